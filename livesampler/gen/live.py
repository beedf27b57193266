"""Generated instruments in a playing host: the loop between MIDI, scheduler, generator and cache.

One thread runs ``GenerationLoop.step`` over and over. The MIDI thread only
appends what it saw to a deque (``midi_event``); the audio thread is not
touched except through ``SampleCache`` publishing instruments. So a slow disk,
a busy model or a dead generator process never reach the audio callback: the
host keeps playing what it has.

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
from livesampler.rt.engine import NOTE_ON, PROGRAM

log = logging.getLogger(__name__)


class GenerationLoop:
    def __init__(self, cache: SampleCache, scheduler: Scheduler, generator, batch_size: int = 1):
        self.cache = cache
        self.scheduler = scheduler
        self.generator = generator  # gen.worker.Generator, or anything with its methods
        self.batch_size = batch_size
        self.hints: deque = deque()
        self.requests: deque = deque()  # (slot, spec) from other threads: prompts typed while playing
        self.specs: dict[int, InstrumentSpec] = {}  # slot -> prompt instrument
        self.current = -1  # the slot being generated
        self.program = [0] * 16
        self.lost = 0

    # Any thread.

    def midi_event(self, event: tuple) -> None:
        """Note what the performer did. Runs on the MIDI thread: one append, nothing else."""
        self.hints.append(event)

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
        self.scheduler.switch(spec.id, self.cache.ready_keys(spec.id))

    def step(self, timeout: float = 0.0) -> None:
        while self.requests:
            slot, spec = self.requests.popleft()
            old = self.specs.get(slot)
            self.current = -1 if slot == self.current else self.current  # so that select() switches
            self.set_prompt(slot, spec)
            if old is not None and old.id != spec.id:
                self.cache.forget([old.id])  # out of RAM when no slot shows it; kept on disk
        self._read_hints()
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

    def _read_hints(self) -> None:
        hints = self.hints
        while hints:
            status, channel, a, b = hints.popleft()
            if status == PROGRAM:
                self.program[channel] = a
                self.select(a)
            elif status == NOTE_ON and b > 0:
                slot = self.program[channel]
                spec = self.specs.get(slot)
                if spec is None:
                    continue
                key = (a, layer_of(b))
                self.cache.touch(spec.id, key)
                if slot == self.current:
                    self.scheduler.pressed(key)

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
