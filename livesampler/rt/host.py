"""The live host: instruments loaded, engine built, MIDI in, audio out.

Start-up does everything that allocates or compiles before the stream starts:
samples are loaded and resampled, the mixing kernel is compiled (or loaded from
numba's cache) by one silent block, and the objects made so far are frozen out
of the garbage collector's reach (``gc.freeze``) so that a collection triggered
while playing only walks what was made since. Collector pauses are timed.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from livesampler.config import Config
from livesampler.rt.audio import AudioOutput
from livesampler.rt.cpu_wake import CpuWakeHold
from livesampler.rt.engine import Engine
from livesampler.rt.instrument import Instrument
from livesampler.rt.midi import MidiInput
from livesampler.rt.samples import SampleBank
from livesampler.rt.voices import compile_all


class GcMonitor:
    """Times every collection the garbage collector makes while installed."""

    def __init__(self):
        self.collections = 0
        self.max_pause = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.collections += 1
            self.max_pause = max(self.max_pause, time.perf_counter() - self._started)

    def install(self) -> None:
        gc.callbacks.append(self)

    def remove(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)


def load_instruments(paths: Sequence[Path], sample_rate: int) -> tuple[list[Instrument], SampleBank]:
    bank = SampleBank(sample_rate)
    return [Instrument.from_sfz(p, bank) for p in paths], bank


def prepare_engine(engine: Engine, block_size: int) -> None:
    """Compile every kernel before any deadline: no first note pays for it."""
    out = np.zeros((block_size, 2), np.float32)
    compile_all(engine.voices, engine.bank.data, engine.bend, out)
    engine.process(out)


class LiveHost:
    def __init__(self, config: Config, instruments: Sequence[Instrument], bank: SampleBank,
                 listener: Callable[[tuple], None] | None = None):
        """``listener`` also sees every event the engine gets (on the MIDI thread: it must only queue it)."""
        self.config = config
        self.listener = listener
        self.engine = Engine(config.engine, config.audio.sample_rate, instruments, bank)
        prepare_engine(self.engine, config.audio.block_size)
        self.gc = GcMonitor()
        self.midi: MidiInput | None = None
        self.audio: AudioOutput | None = None
        self.started = 0.0
        self.cpu_wake = CpuWakeHold()
        self._switch_interval: float | None = None

    def start(self, midi: bool = True) -> None:
        if midi:
            self.midi = MidiInput(self.config.midi, self.send)
        try:
            self.audio = AudioOutput(self.config.audio, self.engine)
        except Exception:
            self.close()
            raise
        if self.config.audio.hold_cpus_awake:
            self.cpu_wake.acquire()
        gc.collect()
        gc.freeze()
        self.gc.install()
        # The callback needs the GIL. A thread that wants it while another runs Python
        # waits a whole switch interval (5 ms by default) before asking for it: longer
        # than a block. A fifth of a block bounds that wait well inside the period.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch_interval, self.config.audio.block_size / self.audio.sample_rate / 5))
        self.audio.start()
        self.started = time.monotonic()

    def play_events(self, events: list[tuple[int, tuple]], stop: threading.Event | None = None) -> None:
        """Send ``[(frame, event)]`` to the engine in real time, as a keyboard would."""
        sr = self.engine.sample_rate
        begin = time.monotonic()
        for frame, event in events:
            wait = begin + frame / sr - time.monotonic()
            if wait > 0 and (stop.wait(wait) if stop else time.sleep(wait)):
                return
            self.send(event)

    def send(self, event: tuple) -> None:
        """An event to the engine and the listener. Any thread; never blocks."""
        self.engine.push(event)
        if self.listener is not None:
            self.listener(event)

    def stats(self) -> dict:
        engine, audio = self.engine, self.audio
        stats = {f"rt/{k}": v for k, v in engine.counters.items()}
        if self.midi:
            r = self.midi.router
            stats.update({"midi/received": r.received, "midi/ignored": r.ignored, "midi/filtered": r.filtered})
        if audio:
            stats.update({
                "rt/underflows": audio.underflows,
                "rt/callbacks": audio.callbacks,
                "rt/callback_mean_share": audio.busy_seconds / max(audio.callbacks, 1) / audio.block_seconds,
                "rt/callback_max_ms": audio.max_callback_seconds * 1e3,
                "rt/overruns": audio.overruns,
            })
        stats.update({"rt/gc_collections": self.gc.collections, "rt/gc_max_pause_ms": self.gc.max_pause * 1e3})
        return stats

    def close(self) -> None:
        self.cpu_wake.release()
        self.gc.remove()
        gc.unfreeze()
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)
            self._switch_interval = None
        if self.audio:
            self.audio.close()
        if self.midi:
            self.midi.close()
