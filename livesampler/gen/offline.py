"""Generated instruments without a live host: notes made ahead, and MIDI files rendered through them.

``make_notes`` runs the model in this process and writes each note into the
sample cache as the live generator does (atomically, one file per note), so a
run that is interrupted keeps every note it finished and the next run skips
them. ``render_generated`` renders a MIDI file through generated instruments:
it asks the engine which (pitch, velocity layer) each note-on of the piece
plays, makes the ones the cache lacks, then renders the piece with the same
engine, sample cache and offline renderer as every other render, so the file
sounds as the live host would play the piece with those notes made.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from livesampler.config import Config
from livesampler.gen.cache import SampleCache
from livesampler.gen.spec import HIGHEST_PITCH, LOWEST_PITCH, InstrumentSpec, NoteKey, layer_of
from livesampler.gen.store import SampleStore
from livesampler.rt.engine import NOTE_ON, PLAY_LOG_SIZE, Engine
from livesampler.rt.instrument import Instrument
from livesampler.rt.render import render
from livesampler.rt.samples import SampleBank

# progress(notes made so far, notes to make, the instrument being made)
Progress = Callable[[int, int, InstrumentSpec], None]


def notes_played(events: Sequence[tuple[int, tuple]], slots: int, cfg: Config) -> list[set[NoteKey]]:
    """For each program slot, the (pitch, velocity layer) notes that the note-ons of ``events`` play.

    The engine itself applies the events (to silent instruments) and its play
    log says which slot each note-on played, so program changes, including ones
    naming no slot, count exactly as they will when the piece is rendered. A key
    outside the generated range plays the nearest end of it.
    """
    silent = Instrument.from_refs("", {})
    engine = Engine(cfg.engine, cfg.audio.sample_rate, [silent] * slots, SampleBank(cfg.audio.sample_rate, 16))
    played: list[set[NoteKey]] = [set() for _ in range(slots)]
    since = 0
    for n, (_, event) in enumerate(events):
        engine.handle(event)
        if n % (PLAY_LOG_SIZE // 2) == PLAY_LOG_SIZE // 2 - 1 or n == len(events) - 1:
            records, since, _ = engine.played.read(since)
            for status, slot, key, velocity in records:
                if status == NOTE_ON:
                    played[slot].add((min(max(key, LOWEST_PITCH), HIGHEST_PITCH), layer_of(velocity)))
    return played


def missing_notes(store: SampleStore, jobs: Iterable[tuple[InstrumentSpec, Iterable[NoteKey]]]
                  ) -> list[tuple[InstrumentSpec, list[NoteKey]]]:
    """The notes of each job that the cache does not have yet (jobs of one instrument merged)."""
    wanted: dict[str, tuple[InstrumentSpec, set[NoteKey]]] = {}
    for spec, keys in jobs:
        wanted.setdefault(spec.id, (spec, set()))[1].update(keys)
    out = []
    for spec, keys in wanted.values():
        have = set(store.notes(spec.id))
        out.append((spec, sorted(k for k in keys if k not in have)))
    return out


def make_notes(source, jobs: Iterable[tuple[InstrumentSpec, Iterable[NoteKey]]], store: SampleStore,
               batch_size: int = 1, progress: Progress | None = None) -> int:
    """Generate the notes of ``jobs`` that the cache lacks, in this process, with the model ``source``
    builds (only if there is anything to make). Returns how many were made."""
    todo = [(spec, keys) for spec, keys in missing_notes(store, jobs) if keys]
    total = sum(len(keys) for _, keys in todo)
    if not total:
        return 0
    if progress is not None:
        progress(0, total, todo[0][0])  # before the model loads, which takes a while
    model = source.build()
    made = 0
    for spec, keys in todo:
        store.open(spec, model.sample_rate)
        try:
            for first in range(0, len(keys), batch_size):
                batch = keys[first:first + batch_size]
                for key, audio in zip(batch, model.generate(spec, batch)):
                    store.write(spec.id, key, audio, model.sample_rate)
                made += len(batch)
                if progress is not None:
                    progress(made, total, spec)
        finally:
            store.update_manifest(spec.id)  # also when interrupted: the notes written so far are listed
    return made


@dataclass
class RenderReport:
    audio: np.ndarray  # [frames, 2] float32 at the output rate
    sample_rate: int
    made: int  # notes generated for this render
    needed: int  # (slot, pitch, layer) notes the piece plays
    counters: dict  # the engine's counters (rt/ namespace, without the prefix)


def render_generated(config: Config, source, specs: Sequence[InstrumentSpec], events: Sequence[tuple[int, tuple]],
                     block_size: int, progress: Progress | None = None) -> RenderReport:
    """``events`` rendered through the instruments ``specs`` (program 0, 1, ...), making the notes they need."""
    store = SampleStore(config.path(config.cache.dir))
    needed = notes_played(events, len(specs), config)
    made = make_notes(source, zip(specs, needed), store, config.generator.batch_size, progress)
    rate = config.audio.sample_rate
    bank = SampleBank(rate)
    engine = Engine(config.engine, rate, [Instrument.from_refs(spec.name, {}) for spec in specs], bank)
    # Every note the piece plays is in RAM at once, as the live host would have it once made.
    cache = SampleCache(store, bank, budget_bytes=1 << 62, switch_semitones=config.cache.switch_semitones)
    cache.attach(engine)
    cache.select(0)
    for slot, spec in enumerate(specs):
        cache.show(slot, spec, keys=needed[slot])
    audio = render(engine, list(events), block_size)
    return RenderReport(audio, rate, made, sum(len(n) for n in needed), dict(engine.counters))
