"""Playing a MIDI file through a generated instrument offline, with a generator of a chosen speed.

This is how the prefetch policy is measured: the real engine, cache, scheduler
and generation loop, with the generator replaced by one that takes exactly
``1 / rate`` seconds of simulated time per note, so a GPU's speed and a CPU's
can both be tried on one machine, and every run gives the same figures.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livesampler.config import EngineConfig, PrefetchConfig
from livesampler.gen.cache import SampleCache
from livesampler.gen.live import GenerationLoop
from livesampler.gen.model import InstrumentModel
from livesampler.gen.scheduler import Scheduler
from livesampler.gen.spec import InstrumentSpec, NoteKey
from livesampler.gen.store import SampleStore
from livesampler.rt.engine import Engine
from livesampler.rt.instrument import Instrument
from livesampler.rt.render import read_events
from livesampler.rt.samples import SampleBank


class ClockedGenerator:
    """The generator's interface, on a simulated clock: ``batch / rate`` seconds per batch."""

    def __init__(self, model: InstrumentModel, store: SampleStore, rate: float):
        self.model = model
        self.store = store
        self.rate = rate
        self.sample_rate = model.sample_rate
        self.now = 0.0
        self.in_flight: tuple[InstrumentSpec, list[NoteKey]] | None = None
        self.finish_at = 0.0
        self.made = 0

    @property
    def idle(self) -> bool:
        return self.in_flight is None

    def submit(self, spec: InstrumentSpec, notes: list[NoteKey]) -> None:
        self.in_flight = (spec, list(notes))
        self.finish_at = self.now + len(notes) / self.rate

    def poll(self, timeout: float = 0.0) -> list[tuple]:
        if self.in_flight is None or self.now < self.finish_at:
            return []
        spec, notes = self.in_flight
        self.in_flight = None
        self.store.open(spec, self.model.sample_rate)
        events = []
        for note, audio in zip(notes, self.model.generate(spec, notes)):
            self.store.write(spec.id, note, audio, self.model.sample_rate)
            events.append(("landed", spec.id, note))
            self.made += 1
        events.append(("done", spec.id, notes))
        return events


@dataclass
class SessionFigures:
    notes: int
    sounded_at_once: float  # share of note-ons that made sound at once
    sounded_after_first_sample: float  # the same, counting only note-ons once any sample exists
    own_sample: float  # share played by their own (pitch, layer) sample
    borrowed: float  # share played by a neighbour, resampled
    mean_borrow_semitones: float
    fill_seconds: float  # from the prompt until every note of the instrument is ready (nan: never)
    first_sample_seconds: float


def play_offline(midi: str | Path, model: InstrumentModel, rate: float, prefetch: PrefetchConfig,
                 spec: InstrumentSpec, sample_rate: int = 16000, block_size: int = 128,
                 batch_size: int = 1, cache_dir: str | Path | None = None) -> SessionFigures:
    """Choose ``spec`` at time 0 with an empty cache, play ``midi`` from time 0, run until the instrument is full."""
    events, _ = read_events(midi, sample_rate)
    with tempfile.TemporaryDirectory() as temp:
        store = SampleStore(cache_dir or temp)
        bank = SampleBank(sample_rate)
        empty = Instrument.from_refs(spec.name, {})
        engine = Engine(EngineConfig(polyphony=256), sample_rate, [empty], bank)
        cache = SampleCache(store, bank, budget_bytes=1 << 40)
        cache.attach(engine)
        generator = ClockedGenerator(model, store, rate)
        loop = GenerationLoop(cache, Scheduler(prefetch), generator, batch_size)
        loop.set_prompt(0, spec)
        out = np.zeros((block_size, 2), np.float32)
        at, e = 0, 0
        first_sample = fill = None
        notes_before_first = 0
        while e < len(events) or fill is None:
            generator.now = at / sample_rate
            loop.step()
            if first_sample is None and cache.ready_keys(spec.id):
                first_sample = generator.now
                notes_before_first = engine.counters["notes"]
            if fill is None and loop.scheduler.filled:
                fill = generator.now
            # Up to the next block, or to the moment the generator finishes,
            # so that it is never kept waiting for a block boundary.
            end = at + block_size
            if not generator.idle:
                end = min(end, max(at + 1, int(np.ceil(generator.finish_at * sample_rate))))
            if e >= len(events):
                if generator.idle:
                    break  # the policy wants nothing more (on_demand, fill="played")
                at = end  # the piece is over: only the generator's clock matters now
                continue
            block = []
            while e < len(events) and events[e][0] < end:
                frame, event = events[e]
                block.append((frame - at, event))
                e += 1
            engine.render(out[: end - at], block)
            at = end
    c = engine.counters
    notes = c["notes"]
    sounded = c["own_sample"] + c["borrowed"]
    after = notes - notes_before_first
    return SessionFigures(
        notes=notes,
        sounded_at_once=sounded / max(notes, 1),
        sounded_after_first_sample=(sounded / after) if after else 1.0,
        own_sample=c["own_sample"] / max(notes, 1),
        borrowed=c["borrowed"] / max(notes, 1),
        mean_borrow_semitones=c["borrow_semitones"] / max(c["borrowed"], 1),
        fill_seconds=fill if fill is not None else float("nan"),
        first_sample_seconds=first_sample if first_sample is not None else float("nan"),
    )

