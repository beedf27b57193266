"""Quiet native libraries: ALSA, JACK, PortAudio and FluidSynth print their own complaints.

When a port or device cannot be opened, libasound and libjack write several
lines straight to file descriptor 2 before our own one-line error explains what
happened. ``silenced_stderr`` keeps them out of the terminal while a device is
being probed or opened, or a soundfont loaded (never while playing).
"""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def silenced_stderr():
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real descriptor 2 (embedded, captured): nothing to hide
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
