"""Keeping the cores awake while playing: a Linux PM QoS request.

A core with nothing to do sleeps, and the deeper it sleeps the longer it takes
to wake for the next audio cycle. In a virtual machine an idle core is handed
back to the host, which can take milliseconds to return it. Linux caps the
wake-up latency of every core for as long as some process holds
``/dev/cpu_dma_latency`` open with the cap written in it; 0 makes idle cores
poll instead of sleeping. That costs power, so it is held only while playing,
and ``audio.hold_cpus_awake`` turns it off.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

PM_QOS = Path("/dev/cpu_dma_latency")


class CpuWakeHold:
    """Holds the request from ``acquire`` until ``release``; ``reason`` says why it could not."""

    def __init__(self, device: Path = PM_QOS):
        self.device = device
        self._fd: int | None = None
        self.reason = ""

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> bool:
        if self._fd is not None:
            return True
        try:
            fd = os.open(self.device, os.O_WRONLY | os.O_CLOEXEC)
        except OSError as e:
            self.reason = f"cannot open {self.device}: {e.strerror}"
            return False
        try:
            os.write(fd, struct.pack("=i", 0))  # microseconds; the request lasts while fd is open
        except OSError as e:
            os.close(fd)
            self.reason = f"cannot write {self.device}: {e.strerror}"
            return False
        self._fd = fd
        self.reason = ""
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
