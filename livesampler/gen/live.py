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
play what they have. A new prompt or take replaces the instrument of that slot;
until the new one has notes near a key, the key plays the one heard before
(see ``gen.cache``).

Takes: the same prompt with another seed is another instrument (another id,
another sound). Takes are named by their seed; those on disk, from any
session, are found in the cache, so going back to one costs no generation.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

from livesampler.gen.cache import SampleCache
from livesampler.gen.scheduler import Scheduler
from livesampler.gen.spec import ALL_KEYS, InstrumentSpec, layer_of
from livesampler.rt.engine import PROGRAM

log = logging.getLogger(__name__)

TAKE_MOVES = ("new", "previous", "next")


class GenerationLoop:
    def __init__(self, cache: SampleCache, scheduler: Scheduler, generator, batch_size: int = 1):
        self.cache = cache
        self.scheduler = scheduler
        self.generator = generator  # gen.worker.Generator, or anything with its methods
        self.batch_size = batch_size
        self.requests: deque = deque()  # from other threads: ("prompt", slot, spec) or ("take", move or seed)
        self.specs: dict[int, InstrumentSpec] = {}  # slot -> prompt instrument
        self.current = -1  # the slot being generated
        self.lost = 0  # notes the generator lost (its process died)
        self.played_since = 0  # the next record of the engine's play log to read
        self.missed = 0  # play log records lost to a flood of MIDI
        self.held_over = 0  # note-ons played by an instrument heard before the slot's own (it had nothing near)
        self.tried: dict[str, set[int]] = {}  # seeds asked for this session, per instrument less its seed
        self.announce: Callable[[str], None] = log.info  # what a performer should read: the instrument now played

    # Any thread.

    def request_prompt(self, slot: int, spec: InstrumentSpec) -> None:
        """Put a new instrument in ``slot`` and generate it, from any thread (done by the next step)."""
        self.requests.append(("prompt", slot, spec))

    def request_take(self, which: str | int) -> None:
        """Another take of the instrument being played: "new" (a seed no take of it has used), "previous"
        or "next" (in seed order; "next" after the last is a new one), or a seed. Any thread; never blocks."""
        if which not in TAKE_MOVES and not (isinstance(which, int) and which >= 0):
            raise ValueError(f"a take is one of {', '.join(TAKE_MOVES)} or a seed (0 or more), not {which!r}")
        self.requests.append(("take", which))

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
        self.cache.select(slot)
        spec = self.specs[slot]
        # A batch under way for the old instrument finishes and stays on disk; the
        # scheduler queues nothing more for it.
        self.scheduler.switch(spec.id, self.cache.made_keys(spec.id))

    def step(self, timeout: float = 0.0) -> None:
        while self.requests:
            request = self.requests.popleft()
            if request[0] == "prompt":
                self._replace(request[1], request[2])
            else:
                self._take(request[1])
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

    def _replace(self, slot: int, spec: InstrumentSpec) -> None:
        """``spec`` in ``slot``, selected; the instrument it replaces is still heard until this one is near."""
        self.tried.setdefault(spec.with_seed(0).id, set()).add(spec.seed)
        self.current = -1 if slot == self.current else self.current  # so that select() switches
        self.set_prompt(slot, spec)
        made = len(self.cache.made_keys(spec.id))
        self.announce(f"now playing {spec.name!r} take {spec.seed} in program {slot} (id {spec.id[:8]}), "
                      f"{made} of {len(ALL_KEYS)} notes already on disk")

    def _take(self, which: str | int) -> None:
        spec = self.specs.get(self.current)
        if spec is None:
            self.announce("no generated instrument is being played: no take to change")
            return
        seeds = set(self.cache.store.takes(spec)) | self.tried.get(spec.with_seed(0).id, set()) | {spec.seed}
        later = [s for s in seeds if s > spec.seed]
        if which == "previous":
            earlier = [s for s in seeds if s < spec.seed]
            if not earlier:
                self.announce(f"{spec.name!r} take {spec.seed} is its first take")
                return
            seed = max(earlier)
        elif which == "next" and later:
            seed = min(later)
        elif which in ("new", "next"):
            seed = max(seeds) + 1
        else:
            seed = which
        if seed != spec.seed:
            self._replace(self.current, spec.with_seed(seed))

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
            if self.cache.held_over(slot, key):
                self.held_over += 1
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
