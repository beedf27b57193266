"""The cache in RAM: what the engine plays, the memory bound, damaged entries."""

import logging

import numpy as np
import pytest

from livesampler.config import EngineConfig
from livesampler.gen.cache import SampleCache
from livesampler.gen.spec import InstrumentSpec
from livesampler.gen.store import SampleStore
from livesampler.rt.engine import NOTE_ON, Engine
from livesampler.rt.instrument import Instrument
from livesampler.rt.samples import SampleBank

SR = 8000
BLOCK = 64
NOTE_BYTES = (SR // 4 + 6) * 4  # a quarter second, mono, with the bank's padding


def tone(pitch, layer=100, seconds=0.25):
    t = np.arange(int(seconds * SR)) / SR
    return (layer / 127 * 0.5 * np.sin(2 * np.pi * 440 * 2 ** ((pitch - 69) / 12) * t)).astype(np.float32)


@pytest.fixture
def world(tmp_path):
    store = SampleStore(tmp_path / "cache")
    bank = SampleBank(SR, capacity_frames=1 << 16)
    engine = Engine(EngineConfig(gain_db=0.0), SR, [Instrument.from_refs("empty", {})], bank)
    spec = InstrumentSpec.make("glass harp", model_ids={"lm": "x"})
    store.open(spec, SR)
    return store, bank, engine, spec


def blocks(engine, n=3):
    out = np.zeros((BLOCK, 2), np.float32)
    for _ in range(n):
        engine.process(out)
    return out


def test_notes_on_disk_are_played_at_once_and_new_ones_as_they_land(world):
    store, bank, engine, spec = world
    store.write(spec.id, (60, 100), tone(60), SR)
    cache = SampleCache(store, bank, budget_bytes=1 << 30)
    cache.attach(engine)
    assert cache.show(0, spec) == [(60, 100)]
    engine.push((NOTE_ON, 0, 60, 100))
    engine.push((NOTE_ON, 0, 64, 100))  # no sample of its own: borrows 60's, four semitones up
    blocks(engine, 1)
    assert engine.counters["own_sample"] == 1 and engine.counters["borrowed"] == 1
    assert engine.counters["borrow_semitones"] == 4
    store.write(spec.id, (64, 100), tone(64), SR)
    assert cache.land(spec.id, (64, 100))
    engine.push((NOTE_ON, 0, 64, 100))
    blocks(engine, 1)
    assert engine.counters["own_sample"] == 2
    assert engine.instruments[0].name == "glass harp" and len(engine.instruments[0].regions) == 2


def test_a_damaged_entry_is_reported_once_removed_and_not_played(world, caplog):
    store, bank, engine, spec = world
    store.write(spec.id, (60, 100), tone(60), SR)
    path = store.write(spec.id, (62, 100), tone(62), SR)
    path.write_bytes(path.read_bytes()[:-100])
    cache = SampleCache(store, bank, budget_bytes=1 << 30)
    cache.attach(engine)
    with caplog.at_level(logging.WARNING):
        assert cache.show(0, spec) == [(60, 100)]
        cache.show(0, spec)  # looked at again: the file is gone, nothing more to report
    warnings = [r for r in caplog.records if "damaged" in r.getMessage()]
    assert len(warnings) == 1 and path.name in warnings[0].getMessage()
    assert not path.exists() and cache.damaged == 1
    assert store.notes(spec.id) == [(60, 100)]


def test_ram_stays_within_budget_least_recently_used_first(world):
    store, bank, engine, spec = world
    cache = SampleCache(store, bank, budget_bytes=3 * NOTE_BYTES)
    cache.attach(engine)
    cache.show(0, spec)
    for pitch in (60, 62, 64):
        store.write(spec.id, (pitch, 100), tone(pitch), SR)
        cache.land(spec.id, (pitch, 100))
    cache.touch(spec.id, (60, 100))  # played: 62 is now the least recently used
    store.write(spec.id, (65, 100), tone(65), SR)
    cache.land(spec.id, (65, 100))
    assert cache.ready_keys(spec.id) == {(60, 100), (64, 100), (65, 100)}
    assert cache.bytes <= cache.budget_bytes and cache.evicted == 1
    assert {r.keycenter for r in engine.instruments[0].regions} == {60.0, 64.0, 65.0}
    assert store.notes(spec.id) == [(60, 100), (62, 100), (64, 100), (65, 100)]  # still on disk


def test_an_evicted_note_is_read_back_from_disk_when_its_key_is_pressed(world):
    store, bank, engine, spec = world
    cache = SampleCache(store, bank, budget_bytes=2 * NOTE_BYTES)
    cache.attach(engine)
    cache.show(0, spec)
    for pitch in (60, 62, 64):
        store.write(spec.id, (pitch, 100), tone(pitch), SR)
        cache.land(spec.id, (pitch, 100))
    assert not cache.is_ready(spec.id, (60, 100)) and cache.made_keys(spec.id) == {(60, 100), (62, 100), (64, 100)}
    assert cache.touch(spec.id, (60, 100))
    assert cache.ready_keys(spec.id) == {(60, 100), (64, 100)} and cache.bytes <= cache.budget_bytes
    assert {r.keycenter for r in engine.instruments[0].regions} == {60.0, 64.0}
    store.discard(spec.id, (62, 100))  # evicted, then removed from disk by another host
    assert not cache.touch(spec.id, (62, 100))  # to be made again
    assert cache.made_keys(spec.id) == {(60, 100), (64, 100)}
    assert cache.touch(spec.id, (66, 100))  # never made: nothing to say


def test_a_sample_a_voice_is_playing_is_never_evicted(world):
    store, bank, engine, spec = world
    cache = SampleCache(store, bank, budget_bytes=2 * NOTE_BYTES)
    cache.attach(engine)
    cache.show(0, spec)
    for pitch in (60, 62):
        store.write(spec.id, (pitch, 100), tone(pitch), SR)
        cache.land(spec.id, (pitch, 100))
    engine.push((NOTE_ON, 0, 60, 100))  # the least recently used one, now sounding
    blocks(engine, 1)
    store.write(spec.id, (64, 100), tone(64), SR)
    cache.land(spec.id, (64, 100))
    assert cache.ready_keys(spec.id) == {(60, 100), (64, 100)}


def test_evicted_frames_go_back_to_the_bank_only_after_the_audio_thread_moved_on(world):
    store, bank, engine, spec = world
    cache = SampleCache(store, bank, budget_bytes=1 * NOTE_BYTES)
    cache.attach(engine)
    cache.show(0, spec)
    store.write(spec.id, (60, 100), tone(60), SR)
    cache.land(spec.id, (60, 100))
    used = bank.used_frames
    for pitch in range(61, 70):
        store.write(spec.id, (pitch, 100), tone(pitch), SR)
        cache.land(spec.id, (pitch, 100))
        assert cache.reap() == 0  # no block has passed since it was unpublished
        blocks(engine, 2)
        assert cache.reap() == 1
    assert bank.used_frames == used  # the same frames, reused every time
    assert bank.data.shape[0] == 1 << 16  # the bank never had to grow


def test_the_bank_gives_freed_frames_to_later_samples(world):
    _, bank, _, _ = world
    a = bank.add(tone(60), SR)
    b = bank.add(tone(62), SR)
    bank.free(a)
    assert np.all(bank.data[a.start : a.start + a.frames] == 0)
    c = bank.add(tone(64), SR)
    assert c.start == a.start
    bank.free(b)
    bank.free(c)
    assert bank.used_frames == 0
