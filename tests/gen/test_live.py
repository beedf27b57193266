"""The generation loop in a playing host: it follows what the engine played, and keeps pressed keys in RAM."""

import numpy as np
import pytest

from livesampler.config import EngineConfig, PrefetchConfig
from livesampler.gen.cache import SampleCache
from livesampler.gen.live import GenerationLoop
from livesampler.gen.scheduler import Scheduler
from livesampler.gen.simulate import ClockedGenerator
from livesampler.gen.spec import InstrumentSpec
from livesampler.gen.store import SampleStore
from livesampler.rt.engine import NOTE_OFF, NOTE_ON, PROGRAM, Engine
from livesampler.rt.instrument import Instrument
from livesampler.rt.samples import SampleBank
from tests.gen.doubles import RATE, tone_model

BLOCK = 64


class World:
    """Engine, cache on disk, scheduler and loop, with a generator on a clock the test moves."""

    def __init__(self, tmp_path, slots=1, budget_bytes=1 << 30):
        self.store = SampleStore(tmp_path / "cache")
        self.bank = SampleBank(RATE, capacity_frames=1 << 16)
        self.engine = Engine(EngineConfig(), RATE, [Instrument.from_refs("empty", {})] * slots, self.bank)
        self.cache = SampleCache(self.store, self.bank, budget_bytes)
        self.cache.attach(self.engine)
        self.model = tone_model()
        self.generator = ClockedGenerator(self.model, self.store, rate=100.0)
        self.loop = GenerationLoop(self.cache, Scheduler(PrefetchConfig(policy="on_demand")), self.generator)
        self.out = np.zeros((BLOCK, 2), np.float32)

    def write(self, spec, *keys):
        """Notes made in an earlier session: on disk only."""
        self.store.open(spec, RATE)
        for key, audio in zip(keys, self.model.generate(spec, keys)):
            self.store.write(spec.id, key, audio, RATE)

    def play(self, *events):
        """Events applied by the audio thread, one block."""
        for event in events:
            self.engine.push(event)
        self.engine.process(self.out)

    def step(self, n=1):
        """The generation side's turn; the generator's clock moves past any note under way."""
        for _ in range(n):
            self.generator.now += 1.0
            self.loop.step()


@pytest.fixture
def specs():
    return tuple(InstrumentSpec.make(prompt, model_ids={"tone": "1"}) for prompt in ("glass harp", "bowl"))


def test_a_pressed_key_whose_note_was_evicted_is_read_back_from_disk(tmp_path, specs):
    spec = specs[0]
    world = World(tmp_path)
    world.write(spec, (60, 100), (62, 100), (64, 100))
    note_bytes = (int(world.model.seconds * RATE) + 6) * 4  # with the bank's padding
    world.cache.budget_bytes = 2 * note_bytes
    world.loop.set_prompt(0, spec)
    cache, engine = world.cache, world.engine
    assert cache.ready_keys(spec.id) == {(62, 100), (64, 100)} and cache.evicted == 1  # 60 went first

    world.play((NOTE_ON, 0, 60, 100))
    assert engine.counters["borrowed"] == 1  # at once, from a neighbour
    assert not cache.is_ready(spec.id, (60, 100))  # the audio thread read nothing
    world.step()
    assert cache.is_ready(spec.id, (60, 100))  # read back by the generation side
    assert cache.bytes <= cache.budget_bytes
    world.play((NOTE_OFF, 0, 60, 0), (NOTE_ON, 0, 60, 100))
    assert engine.counters["own_sample"] == 1
    world.step(3)
    assert world.generator.made == 0  # read from disk, not made again


def test_a_pressed_key_whose_evicted_note_left_the_disk_is_made_again(tmp_path, specs):
    spec = specs[0]
    world = World(tmp_path)
    world.write(spec, (60, 100), (62, 100))
    world.cache.budget_bytes = (int(world.model.seconds * RATE) + 6) * 4
    world.loop.set_prompt(0, spec)
    assert not world.cache.is_ready(spec.id, (60, 100))
    world.store.discard(spec.id, (60, 100))  # a `cache clear` from another host
    world.play((NOTE_ON, 0, 60, 100))
    world.step(3)
    assert world.generator.made == 1 and world.cache.is_ready(spec.id, (60, 100))


def test_a_program_change_to_a_missing_slot_leaves_the_channel_where_the_engine_leaves_it(tmp_path, specs):
    a, b = specs
    world = World(tmp_path, slots=2)
    world.loop.set_prompt(0, a)
    world.loop.set_prompt(1, b, select=False)
    # No slot 5: the engine ignores it and channel 0 still plays slot 0, so slot 0's
    # pressed key is made. A channel out of range is ignored by both as well.
    world.play((PROGRAM, 0, 5, 0), (PROGRAM, 16, 1, 0), (NOTE_ON, 0, 60, 100))
    assert world.engine.program[0] == 0
    world.step(3)
    assert world.cache.ready_keys(a.id) == {(60, 100)} and world.loop.current == 0
    world.play((NOTE_OFF, 0, 60, 0), (NOTE_ON, 0, 60, 100))
    assert world.engine.counters["own_sample"] == 1
    world.play((PROGRAM, 0, 1, 0), (NOTE_ON, 0, 40, 100))
    world.step(3)
    assert world.loop.current == 1 and world.cache.ready_keys(b.id) == {(40, 100)}
    assert world.cache.ready_keys(a.id) == {(60, 100)}
