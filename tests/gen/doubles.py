"""Models for the generator tests: no weights, deterministic, and some misbehave on purpose.

They are module-level so that the generator's spawned process can import them.
"""

from __future__ import annotations

import os
import time

import numpy as np

RATE = 8000


class ToneModel:
    """A sine at the note's pitch, level by velocity layer, the phase from the note's seed."""

    sample_rate = RATE

    def __init__(self, seconds: float = 0.25, delay: float = 0.0):
        self.seconds = seconds
        self.delay = delay

    def generate(self, spec, notes, progress=None):
        t = np.arange(int(self.seconds * RATE)) / RATE
        out = []
        for pitch, layer in notes:
            if self.delay:
                time.sleep(self.delay)
            phase = spec.note_seed((pitch, layer)) % 1000 / 1000 * 2 * np.pi
            f = 440.0 * 2 ** ((pitch - 69) / 12)
            out.append((layer / 127 * 0.5 * np.sin(2 * np.pi * f * t + phase)).astype(np.float32))
        return out


def tone_model(seconds: float = 0.25, delay: float = 0.0) -> ToneModel:
    return ToneModel(seconds, delay)


class DyingModel(ToneModel):
    """Kills its own process at its first call if a marker file does not exist yet (and makes it)."""

    def __init__(self, marker: str):
        super().__init__()
        self.marker = marker

    def generate(self, spec, notes, progress=None):
        if not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os._exit(3)
        return super().generate(spec, notes, progress)


def dying_model(marker: str) -> DyingModel:
    return DyingModel(marker)


def broken_model() -> ToneModel:
    from livesampler.gen.model import ModelError

    raise ModelError("no model weights at /nowhere/lm.safetensors: train one or set model.lm in config.toml")


def thread_reporter():
    """Refuses to build, saying with which thread settings its process started."""
    from livesampler.gen.model import ModelError

    raise ModelError("threads: " + " ".join(f"{v}={os.environ.get(v)}" for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")))
