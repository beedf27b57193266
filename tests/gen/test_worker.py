"""The generator process: notes land in the cache, a crash is survived, a broken model is reported."""

import os
import time

import numpy as np
import pytest

from livesampler.config import EngineConfig, PrefetchConfig
from livesampler.gen.cache import SampleCache
from livesampler.gen.live import GenerationLoop
from livesampler.gen.model import ModelSource
from livesampler.gen.scheduler import Scheduler
from livesampler.gen.store import SampleStore
from livesampler.gen.worker import Generator
from livesampler.rt.engine import NOTE_ON, PROGRAM, Engine
from livesampler.rt.instrument import Instrument
from livesampler.rt.samples import SampleBank
from tests.gen.doubles import RATE, broken_model, dying_model, thread_reporter, tone_model

pytestmark = pytest.mark.slow  # each test starts Python processes


def until(condition, generator_loop, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        generator_loop.step(timeout=0.01)


def play(engine, *events):
    """The performer's events, applied by the engine as one audio block would; the loop follows the engine."""
    for event in events:
        engine.push(event)
    engine.process(np.zeros((128, 2), np.float32))


def host(tmp_path, source, prefetch=PrefetchConfig(policy="on_demand"), slots=1):
    store = SampleStore(tmp_path / "cache")
    bank = SampleBank(48000)
    engine = Engine(EngineConfig(), 48000, [Instrument.from_refs("empty", {})] * slots, bank)
    cache = SampleCache(store, bank, 1 << 30)
    cache.attach(engine)
    generator = Generator(source, str(tmp_path / "cache"), nice=5)
    generator.start()
    return engine, cache, GenerationLoop(cache, Scheduler(prefetch), generator), generator


def test_pressed_keys_are_generated_in_another_process_and_played(tmp_path):
    source = ModelSource(tone_model, ids={"tone": "1"})
    engine, cache, loop, generator = host(tmp_path, source)
    try:
        spec = source.spec("test tone")
        loop.set_prompt(0, spec)
        play(engine, *((NOTE_ON, 0, key, 100) for key in (60, 64, 67)))
        until(lambda: len(cache.ready_keys(spec.id)) == 3, loop)
        assert cache.ready_keys(spec.id) == {(60, 100), (64, 100), (67, 100)}
        assert generator.sample_rate == RATE and generator.made == 3
        assert len(engine.instruments[0].regions) == 3
        manifest = cache.store.instruments()[0].manifest
        assert manifest["prompt"] == "test tone" and manifest["model_ids"] == {"tone": "1"}
    finally:
        generator.close()


def test_a_generator_that_dies_is_restarted_and_its_lost_notes_made_again(tmp_path):
    source = ModelSource(dying_model, args=(str(tmp_path / "died-once"),), ids={"tone": "1"})
    engine, cache, loop, generator = host(tmp_path, source)
    try:
        spec = source.spec("test tone")
        loop.set_prompt(0, spec)
        play(engine, (NOTE_ON, 0, 60, 100))
        until(lambda: cache.is_ready(spec.id, (60, 100)), loop)
        assert generator.restarts == 1 and loop.lost == 1
    finally:
        generator.close()


def test_a_model_that_cannot_be_built_is_reported_not_retried(tmp_path):
    source = ModelSource(broken_model)
    _, _, loop, generator = host(tmp_path, source)
    try:
        until(lambda: generator.failure, loop)
        assert "no model weights" in generator.failure
        until(lambda: not generator.alive, loop)  # the process ends on its own (slowly on a loaded machine)
        time.sleep(0.5)
        loop.step()
        assert generator.restarts == 0 and not generator.alive
    finally:
        generator.close()


def test_switching_instrument_keeps_what_was_made_and_makes_only_the_new_one(tmp_path):
    source = ModelSource(tone_model, args=(0.25, 0.2), ids={"tone": "1"})  # 0.2 s per note
    engine, cache, loop, generator = host(tmp_path, source, slots=2)
    try:
        a, b = source.spec("first"), source.spec("second")
        loop.set_prompt(0, a)
        loop.set_prompt(1, b, select=False)
        play(engine, *((NOTE_ON, 0, key, 100) for key in range(60, 70)))
        until(lambda: cache.ready_keys(a.id), loop)
        play(engine, (PROGRAM, 0, 1, 0), (NOTE_ON, 0, 40, 100))  # to "second": "first"'s queue goes
        until(lambda: cache.is_ready(b.id, (40, 100)), loop)
        until(lambda: generator.idle, loop)
        made_a = cache.store.notes(a.id)
        assert 1 <= len(made_a) <= 3  # the batch under way when the switch came, no more
        assert cache.store.notes(b.id) == [(40, 100)]
        assert engine.instruments[1].name == "second"
    finally:
        generator.close()


def test_the_generator_process_starts_with_its_thread_pools_bounded(tmp_path):
    # numpy's BLAS reads OPENBLAS_NUM_THREADS when it is loaded, before the worker's code runs.
    before = dict(os.environ)
    source = ModelSource(thread_reporter, threads=1)
    generator = Generator(source, str(tmp_path), nice=0)
    generator.start()
    assert dict(os.environ) == before  # the audio process's own environment is left as it was
    try:
        deadline = time.monotonic() + 60
        failure = ""
        while not failure and time.monotonic() < deadline:
            generator.poll(0.1)
            failure = generator.failure
    finally:
        generator.close()
    assert failure == "threads: OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1"
