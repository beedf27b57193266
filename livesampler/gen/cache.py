"""The sample cache in RAM: the one door between generation and the audio thread.

Generated notes arrive on disk (``gen.store``); this side reads them, resamples
them once to the output rate into the engine's ``SampleBank`` and publishes a
new ``Instrument`` (the nearest ready sample for every key) into the engine's
program slots by swapping one reference. The audio thread only ever sees whole
instruments made of ready samples; it never waits for anything here.

RAM is bounded: past ``budget_bytes`` the least recently used samples go, but
never one a voice is playing. An evicted sample stays on disk and is read back
when its key is pressed again (``touch``, on the generation side). A sample is
retired in two steps: first every instrument that used it is republished
without it, then, once the audio thread has finished two more blocks (so no
note-on still holds the old instrument) and no voice plays it, its frames go
back to the bank.

Switching without silence. When a slot's instrument is replaced (a new prompt,
another take) or a slot is selected whose instrument is not made yet, the keys
the new instrument cannot play well yet keep playing the one heard before,
until it can: a key plays the newest instrument that has a note within
``switch_semitones`` of it (by pitch, any velocity layer; keys outside the
generated range count from its nearest end), with that instrument's usual
nearest-neighbour borrowing; when none has, the one with the nearest note. The
previous instruments of a slot are "held" until no key plays them. A slot that
is not being played also falls back on the slot that is, so that a program
change to a slot whose instrument is still empty is heard at once. All of this
is worked out here, when an instrument is published: the audio thread still
looks up one keymap entry per note-on.

Instruments no slot shows stay in RAM while the budget allows, so going back
to one (an earlier take) is instant; the least recently used notes go first.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable

import numpy as np

from livesampler.gen.spec import HIGHEST_PITCH, LOWEST_PITCH, InstrumentSpec, NoteKey
from livesampler.gen.store import CacheEntryError, SampleStore
from livesampler.rt.engine import Engine
from livesampler.rt.instrument import Instrument
from livesampler.rt.samples import SampleBank, SampleRef

log = logging.getLogger(__name__)

BLOCKS_BEFORE_FREE = 2
# Half the default anchor step: once a new instrument's anchor keys have
# landed, every key is within reach of one of them.
SWITCH_SEMITONES = 6


class SampleCache:
    def __init__(self, store: SampleStore, bank: SampleBank, budget_bytes: int, release: float | None = None,
                 switch_semitones: int = SWITCH_SEMITONES):
        self.store = store
        self.bank = bank
        self.budget_bytes = budget_bytes
        self.release = release  # of generated notes; None: the engine's default
        self.switch_semitones = switch_semitones
        self.engine: Engine | None = None
        self.ready: dict[str, dict[NoteKey, SampleRef]] = {}
        self.specs: dict[str, InstrumentSpec] = {}
        self.slots: dict[int, str] = {}  # engine program slot -> instrument id shown there
        self.held: dict[int, list[str]] = {}  # slot -> instruments shown there before, newest first, still heard
        self.current = -1  # the slot being played; the others fall back on it
        self.sources: dict[int, tuple[str, ...]] = {}  # slot -> the instruments its published keymap depends on
        self.previous: dict[int, np.ndarray] = {}  # slot -> [128] bool: the key plays an instrument held over
        self.covered: dict[int, bool] = {}  # slot -> its own instrument has a note near every key
        self.lru: OrderedDict[tuple[str, NoteKey], SampleRef] = OrderedDict()
        self.unloaded: dict[str, set[NoteKey]] = {}  # evicted from RAM, still on disk
        self.bytes = 0
        self.retiring: list[tuple[SampleRef, int]] = []  # (sample, engine block count when retired)
        self.damaged = 0  # entries found damaged and removed
        self.evicted = 0

    def attach(self, engine: Engine) -> None:
        self.engine = engine
        for slot in self.slots:
            self.publish_slot(slot)

    # What the generation side asks.

    def is_ready(self, instrument_id: str, key: NoteKey) -> bool:
        return key in self.ready.get(instrument_id, {})

    def ready_keys(self, instrument_id: str) -> set[NoteKey]:
        """The notes in RAM, which the engine plays."""
        return set(self.ready.get(instrument_id, {}))

    def made_keys(self, instrument_id: str) -> set[NoteKey]:
        """The notes in RAM and those evicted to disk: none of them needs making."""
        return self.ready_keys(instrument_id) | self.unloaded.get(instrument_id, set())

    def show(self, slot: int, spec: InstrumentSpec, keys: Iterable[NoteKey] | None = None) -> list[NoteKey]:
        """Put ``spec``'s instrument in program slot ``slot``, with every note already on disk (or
        those of ``keys``). The instrument shown there before is held over where the new one has nothing near.

        Returns the notes that are ready.
        """
        self.specs[spec.id] = spec
        before = self.slots.get(slot)
        held = ([before] if before is not None else []) + self.held.get(slot, [])
        self.held[slot] = _unique(held, spec.id)
        self.slots[slot] = spec.id
        self.ready.setdefault(spec.id, {})
        wanted = None if keys is None else set(keys)
        for key in self.store.notes(spec.id):
            if key not in self.ready[spec.id] and (wanted is None or key in wanted):
                self._load(spec.id, key)
        for other in self.slots:
            leans = slot == self.current and not self.covered.get(other, False)  # on the slot being played
            if other == slot or self.slots[other] == spec.id or leans:
                self.publish_slot(other)
        self._stamp()
        return sorted(self.ready[spec.id])

    def select(self, slot: int) -> None:
        """``slot`` is the one being played now: where its instrument has nothing near a key, the
        instrument heard until now is held over."""
        before, self.current = self.current, slot
        if before == slot or slot not in self.slots:
            return
        if before in self.slots:
            held = [self.slots[before]] + self.held.get(before, []) + self.held.get(slot, [])
            self.held[slot] = _unique(held, self.slots[slot])
        for other in self.slots:
            if other == slot or not self.covered.get(other, False):
                self.publish_slot(other)  # the slots that lean on the one being played
        self._stamp()

    def held_over(self, slot: int, key: int) -> bool:
        """Whether ``key`` of ``slot`` plays an instrument heard before the one shown there (generation side)."""
        previous = self.previous.get(slot)
        return previous is not None and bool(previous[key])

    def land(self, instrument_id: str, key: NoteKey) -> bool:
        """A note the generator has just written: load it and publish. False if it is damaged."""
        if instrument_id not in self.ready:
            return False  # an instrument nobody shows any more: it stays on disk
        ok = self._load(instrument_id, key)
        if ok:
            self.publish(instrument_id)
        return ok

    def touch(self, instrument_id: str, key: NoteKey) -> bool:
        """``key`` was just played: the last sample to be evicted, read back from disk if it was evicted.

        Generation side only: it may read a file. Returns False when the note
        had been made but its file is gone or damaged, so it must be made again.
        """
        item = (instrument_id, key)
        if item in self.lru:
            self.lru.move_to_end(item)
            return True
        unloaded = self.unloaded.get(instrument_id)
        if not unloaded or key not in unloaded:
            return True  # never made (the scheduler has it in hand), or not shown any more
        unloaded.discard(key)
        ok = self._load(instrument_id, key)
        if ok:
            self.publish(instrument_id)
        return ok

    # Publishing to the engine.

    def instrument(self, instrument_id: str) -> Instrument:
        spec = self.specs.get(instrument_id)
        name = spec.name if spec else instrument_id
        return Instrument.from_refs(name, self.ready.get(instrument_id, {}), self.release)

    def publish(self, instrument_id: str) -> None:
        """Publish again every slot whose keys may play ``instrument_id``."""
        for slot in self.slots:
            if instrument_id in self.sources.get(slot, (self.slots[slot],)):
                self.publish_slot(slot)
        self._stamp()

    def _stamp(self) -> None:
        """Samples retired before this point are in no published instrument from now on."""
        mark = self.engine.blocks if self.engine is not None else 0
        self.retiring = [(ref, mark if m < 0 else m) for ref, m in self.retiring]

    def publish_slot(self, slot: int) -> None:
        if self.engine is None:
            return
        instrument = self._compose(slot)
        instruments = self.engine.instruments
        if slot < len(instruments):
            instruments[slot] = instrument  # one reference swap: the audio thread sees old or new
        else:
            raise IndexError(f"the engine has no program slot {slot}")

    def _compose(self, slot: int) -> Instrument:
        """The instrument ``slot`` plays: its own, with held-over ones on the keys it has nothing near."""
        shown = self.slots[slot]
        candidates = [shown] + self.held.get(slot, [])
        if slot != self.current and self.current in self.slots:
            candidates += [self.slots[self.current]] + self.held.get(self.current, [])
        candidates = _unique(candidates)
        distance = np.stack([_distances(self.ready.get(i, {})) for i in candidates])  # [candidates, 128]
        if (distance[0] <= self.switch_semitones).all():
            # Covered: the slot's own instrument alone, and nothing held any more.
            self.held[slot], self.sources[slot], self.covered[slot] = [], (shown,), True
            self.previous[slot] = np.zeros(128, bool)
            return self.instrument(shown)
        near = distance <= self.switch_semitones
        choice = np.where(near.any(axis=0), near.argmax(axis=0), distance.argmin(axis=0))  # [128]
        used = sorted(set(choice.tolist()) | {0})
        self.held[slot] = [i for n, i in enumerate(candidates) if n in used and i in self.held.get(slot, [])]
        self.sources[slot], self.covered[slot] = tuple(candidates), False
        self.previous[slot] = choice != 0
        parts = {n: self.instrument(candidates[n]) for n in used}
        regions, offsets = [], {}
        for n in used:
            offsets[n] = len(regions)
            regions.extend(parts[n].regions)
        shifted: dict[tuple[int, int], tuple] = {}  # rows are shared between keys: shift each one once
        keymap = []
        for key, n in enumerate(choice.tolist()):
            row = parts[n].keymap[key]
            if offsets[n]:
                moved = shifted.get((n, id(row)))
                if moved is None:
                    moved = shifted[(n, id(row))] = tuple(tuple(r + offsets[n] for r in cell) for cell in row)
                row = moved
            keymap.append(row)
        return Instrument(parts[0].name, regions, tuple(keymap))

    # Memory.

    def reap(self) -> int:
        """Free retired samples no voice can play any more. Returns how many were freed."""
        if not self.retiring:
            return 0
        keep, freed = [], 0
        for ref, mark in self.retiring:
            if mark < 0 or self.engine is not None and (self.engine.blocks < mark + BLOCKS_BEFORE_FREE or self._playing(ref)):
                keep.append((ref, mark))
            else:
                self.bank.free(ref)
                freed += 1
        self.retiring = keep
        return freed

    def _playing(self, ref: SampleRef) -> bool:
        voices = self.engine.voices
        return bool(np.any((voices["state"] != 0) & (voices["start"] == ref.start)))

    def _load(self, instrument_id: str, key: NoteKey) -> bool:
        try:
            audio, rate = self.store.read(instrument_id, key)
        except FileNotFoundError:
            return False
        except CacheEntryError as e:
            # Reported once: the file goes, so the next look finds it missing and has it made again.
            log.warning("damaged cache entry removed, it will be generated again: %s", e)
            self.store.discard(instrument_id, key)
            self.damaged += 1
            return False
        ref = self.bank.add(audio, rate)
        old = self.ready[instrument_id].get(key)
        self.ready[instrument_id][key] = ref
        self.lru[(instrument_id, key)] = ref
        self.lru.move_to_end((instrument_id, key))
        self.bytes += self._size(ref)
        unloaded = self.unloaded.get(instrument_id)
        if unloaded:
            unloaded.discard(key)
        if old is not None:
            self._retire(old)
        self._evict(keep=(instrument_id, key))
        return True

    @staticmethod
    def _size(ref: SampleRef) -> int:
        return SampleBank.span(ref)[1] * 4

    def _retire(self, ref: SampleRef) -> None:
        """Count ``ref`` out; its frames are freed by ``reap`` once it is unpublished and silent."""
        self.bytes -= self._size(ref)
        self.retiring.append((ref, -1))

    def _evict(self, keep: tuple[str, NoteKey]) -> None:
        if self.bytes <= self.budget_bytes:
            return
        changed = set()
        for item, ref in list(self.lru.items()):
            if self.bytes <= self.budget_bytes:
                break
            if item == keep or (self.engine is not None and self._playing(ref)):
                continue
            instrument_id, key = item
            del self.lru[item]
            del self.ready[instrument_id][key]
            self.unloaded.setdefault(instrument_id, set()).add(key)
            changed.add(instrument_id)
            self.evicted += 1
            self._retire(ref)
        for instrument_id in changed:
            self.publish(instrument_id)


def _unique(ids: Iterable[str], leave_out: str | None = None) -> list[str]:
    """``ids`` in order, each once, without ``leave_out``."""
    seen, out = {leave_out}, []
    for i in ids:
        if i not in seen:
            seen.add(i)
            out.append(i)
    return out


_KEYS = np.clip(np.arange(128), LOWEST_PITCH, HIGHEST_PITCH)  # a key outside the range counts from its end


def _distances(ready: dict[NoteKey, SampleRef]) -> np.ndarray:
    """[128] semitones from each key to the nearest pitch with a note in ``ready`` (inf: none)."""
    if not ready:
        return np.full(128, np.inf)
    pitches = np.array(sorted({p for p, _ in ready}), np.float64)
    return np.abs(_KEYS[:, None] - pitches[None, :]).min(axis=1)
