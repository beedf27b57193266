"""A live host whose instruments are prompts: the engine, the cache, the generator, and the loop between them.

Program slot N holds prompt N. Typing a new prompt while playing replaces the
instrument of the slot being played; the notes already made for any prompt
stay on disk, so going back to it is instant.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from livesampler.config import Config
from livesampler.gen.cache import SampleCache
from livesampler.gen.live import GenerationLoop
from livesampler.gen.model import ModelSource
from livesampler.gen.scheduler import Scheduler
from livesampler.gen.spec import InstrumentSpec
from livesampler.gen.store import SampleStore
from livesampler.gen.worker import Generator
from livesampler.rt.host import LiveHost
from livesampler.rt.instrument import Instrument
from livesampler.rt.samples import SampleBank


class PromptHost:
    def __init__(self, config: Config, source: ModelSource, specs: Sequence[InstrumentSpec]):
        if not specs:
            raise ValueError("a prompt host needs at least one prompt")
        self.config = config
        self.source = source
        cache_dir = config.path(config.cache.dir)
        bank = SampleBank(config.audio.sample_rate)
        self.store = SampleStore(cache_dir)
        self.cache = SampleCache(self.store, bank, config.cache.ram_budget_mb << 20)
        self.generator = Generator(source, str(cache_dir), nice=config.generator.nice)
        self.loop = GenerationLoop(self.cache, Scheduler(config.prefetch), self.generator, config.generator.batch_size)
        empty = [Instrument.from_refs(spec.name, {}) for spec in specs]
        self.host = LiveHost(config, empty, bank)
        self.cache.attach(self.host.engine)
        for slot, spec in enumerate(specs):
            self.loop.set_prompt(slot, spec, select=slot == 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.loop.run, args=(self._stop,), name="livesampler-generation",
                                        daemon=True)

    def start(self, midi: bool = True) -> None:
        self.generator.start()
        self._thread.start()
        self.host.start(midi=midi)

    def new_prompt(self, prompt: str = "", reference: str = "") -> InstrumentSpec:
        """Replace the instrument being played (ValueError for an empty prompt or a missing file)."""
        spec = self.source.spec(prompt, reference, seed=self.config.model.seed)
        slot = max(self.loop.current, 0)
        self.loop.request_prompt(slot, spec)
        return spec

    def stats(self) -> dict:
        stats = self.host.stats()
        loop, generator = self.loop, self.generator
        stats.update({
            "gen/made": generator.made,
            "gen/restarts": generator.restarts,
            "gen/lost": loop.lost,
            "gen/missed_events": loop.missed,
            "gen/ready": loop.scheduler.ready_count,
            "cache/damaged": self.cache.damaged,
            "cache/evicted": self.cache.evicted,
            "cache/ram_mb": round(self.cache.bytes / 2**20, 1),
        })
        return stats

    def close(self) -> None:
        self._stop.set()
        self.host.close()
        if self._thread.is_alive():
            self._thread.join(2.0)
        self.generator.close()
