"""Generated instruments in a playing host: the loop between MIDI, scheduler, generator and cache.

One thread runs ``GenerationLoop.step`` over and over. What the performer
played it reads from the engine's play log (``Engine.played``): the note-ons
the engine applied, each with the slot it played, and the program changes it
accepted. So the loop never keeps a program per channel of its own that could
disagree with the engine's. The audio thread is not touched except through
``SampleCache`` publishing instruments, so a slow disk, a busy model or a dead
generator process never reach the audio callback: the host keeps playing what
it has. A key whose note was evicted from RAM is read back from disk here when
it is pressed; the note-on that asked borrows a neighbour meanwhile.

Program slots hold prompts. The slot last selected (by program change, or by a
prompt typed while playing) is the one being generated; notes on the others
play what they have.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

from livesampler.gen.cache import SampleCache
from livesampler.gen.scheduler import Scheduler
from livesampler.gen.spec import InstrumentSpec, layer_of
from livesampler.rt.engine import PROGRAM

log = logging.getLogger(__name__)


class GenerationLoop:
    def __init__(self, cache: SampleCache, scheduler: Scheduler, generator, batch_size: int = 1):
        self.cache = cache
        self.scheduler = scheduler
        self.generator = generator  # gen.worker.Generator, or anything with its methods
        self.batch_size = batch_size
        self.requests: deque = deque()  # (slot, spec) from other threads: prompts typed while playing
        self.specs: dict[int, InstrumentSpec] = {}  # slot -> prompt instrument
        self.current = -1  # the slot being generated
        self.lost = 0  # notes the generator lost (its process died)
        self.played_since = 0  # the next record of the engine's play log to read
        self.missed = 0  # play log records lost to a flood of MIDI

    # Any thread.

    def request_prompt(self, slot: int, spec: InstrumentSpec) -> None:
        """Put a new instrument in ``slot`` and generate it, from any thread (done by the next step)."""
        self.requests.append((slot, spec))

    # The loop's thread.

    def set_prompt(self, slot: int, spec: InstrumentSpec, select: bool = True) -> None:
        """Show ``spec`` in ``slot`` with what the cache already has; generate it if selected."""
        self.specs[slot] = spec
        ready = self.cache.show(slot, spec)
        log.debug("instrument %r (%s) in slot %d: %d of 440 notes in the cache", spec.name, spec.id[:8], slot, len(ready))
        if select:
            self.select(slot)

    def select(self, slot: int) -> None:
        if slot == self.current or slot not in self.specs:
            return
        self.current = slot
        spec = self.specs[slot]
        # A batch under way for the old instrument finishes and stays on disk; the
        # scheduler queues nothing more for it.
        self.scheduler.switch(spec.id, self.cache.made_keys(spec.id))

    def step(self, timeout: float = 0.0) -> None:
        while self.requests:
            slot, spec = self.requests.popleft()
            old = self.specs.get(slot)
            self.current = -1 if slot == self.current else self.current  # so that select() switches
            self.set_prompt(slot, spec)
            if old is not None and old.id != spec.id:
                self.cache.forget([old.id])  # out of RAM when no slot shows it; kept on disk
        self._follow_engine()
        for event in self.generator.poll(timeout):
            self._generator_event(event)
        if self.generator.idle and self.current in self.specs:
            notes = self.scheduler.next_batch(self.batch_size)
            if notes:
                self.generator.submit(self.specs[self.current], notes)
        self.cache.reap()

    def run(self, stop: threading.Event, interval: float = 0.005) -> None:
        while not stop.is_set():
            self.step(timeout=interval)

    def _follow_engine(self) -> None:
        engine = self.cache.engine
        if engine is None:
            return
        records, self.played_since, missed = engine.played.read(self.played_since)
        self.missed += missed
        for status, slot, key, velocity in records:
            if status == PROGRAM:
                self.select(slot)
                continue
            spec = self.specs.get(slot)
            if spec is None:
                continue  # a slot with an instrument of its own, not a prompt
            note = (key, layer_of(velocity))
            if not self.cache.touch(spec.id, note) and slot == self.current:
                self.scheduler.lost(note)  # made once, gone from disk since: made again
            if slot == self.current:
                self.scheduler.pressed(note)

    def _generator_event(self, event: tuple) -> None:
        kind = event[0]
        current = self.specs.get(self.current)
        if kind == "landed":
            _, instrument_id, note = event
            ok = self.cache.land(instrument_id, note)
            if current is not None and instrument_id == current.id:
                (self.scheduler.landed if ok else self.scheduler.lost)(note)
        elif kind == "lost":
            _, instrument_id, notes = event
            self.lost += len(notes)
            if current is not None and instrument_id == current.id:
                for note in notes:
                    self.scheduler.lost(note)
