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
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable

import numpy as np

from livesampler.gen.spec import InstrumentSpec, NoteKey
from livesampler.gen.store import CacheEntryError, SampleStore
from livesampler.rt.engine import Engine
from livesampler.rt.instrument import Instrument
from livesampler.rt.samples import SampleBank, SampleRef

log = logging.getLogger(__name__)

BLOCKS_BEFORE_FREE = 2


class SampleCache:
    def __init__(self, store: SampleStore, bank: SampleBank, budget_bytes: int, release: float | None = None):
        self.store = store
        self.bank = bank
        self.budget_bytes = budget_bytes
        self.release = release  # of generated notes; None: the engine's default
        self.engine: Engine | None = None
        self.ready: dict[str, dict[NoteKey, SampleRef]] = {}
        self.specs: dict[str, InstrumentSpec] = {}
        self.slots: dict[int, str] = {}  # engine program slot -> instrument id shown there
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

    def show(self, slot: int, spec: InstrumentSpec) -> list[NoteKey]:
        """Put ``spec``'s instrument in program slot ``slot``, with every note already on disk.

        Returns the notes that are ready.
        """
        self.specs[spec.id] = spec
        self.slots[slot] = spec.id
        self.ready.setdefault(spec.id, {})
        for key in self.store.notes(spec.id):
            if key not in self.ready[spec.id]:
                self._load(spec.id, key)
        self.publish(spec.id)
        return sorted(self.ready[spec.id])

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
        for slot, shown in self.slots.items():
            if shown == instrument_id:
                self.publish_slot(slot)
        self._stamp()

    def _stamp(self) -> None:
        """Samples retired before this point are in no published instrument from now on."""
        mark = self.engine.blocks if self.engine is not None else 0
        self.retiring = [(ref, mark if m < 0 else m) for ref, m in self.retiring]

    def publish_slot(self, slot: int) -> None:
        if self.engine is None:
            return
        instrument = self.instrument(self.slots[slot])
        instruments = self.engine.instruments
        if slot < len(instruments):
            instruments[slot] = instrument  # one reference swap: the audio thread sees old or new
        else:
            raise IndexError(f"the engine has no program slot {slot}")

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

    def forget(self, instrument_ids: Iterable[str]) -> None:
        """Drop instruments no slot shows from RAM (they stay on disk)."""
        for instrument_id in list(instrument_ids):
            if instrument_id in self.slots.values():
                continue
            for key, ref in self.ready.pop(instrument_id, {}).items():
                self.lru.pop((instrument_id, key), None)
                self._retire(ref)
            self.unloaded.pop(instrument_id, None)
            self.specs.pop(instrument_id, None)
        self._stamp()
