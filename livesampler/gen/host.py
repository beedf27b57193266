"""A live host whose instruments are prompts: the engine, the cache, the generator, and the loop between them.

Program slot N holds prompt N. Typing a new prompt while playing replaces the
instrument of the slot being played; the notes already made for any prompt
stay on disk, so going back to it is instant. A take (the same prompt, another
seed) is changed from the prompt line or by MIDI (``[takes]`` in config.toml),
and the session's slots can be saved as a set file (``gen.setlist``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from livesampler.config import Config, TakesConfig
from livesampler.gen.cache import SampleCache
from livesampler.gen.live import GenerationLoop
from livesampler.gen.model import ModelSource
from livesampler.gen.scheduler import Scheduler
from livesampler.gen.setlist import save_set
from livesampler.gen.spec import InstrumentSpec
from livesampler.gen.store import SampleStore
from livesampler.gen.worker import Generator
from livesampler.rt.engine import CONTROL, PROGRAM
from livesampler.rt.host import LiveHost
from livesampler.rt.instrument import Instrument
from livesampler.rt.samples import SampleBank


def check_take_controls(cfg: TakesConfig, slots: int) -> None:
    """ValueError if the take's program change would also select a slot."""
    if 0 <= cfg.new_program < slots:
        raise ValueError(f"takes.new_program {cfg.new_program} also selects program slot {cfg.new_program} of "
                         f"these {slots} slots: set it to {slots} or more in config.toml (or -1)")


class TakeControls:
    """The MIDI that changes takes, seen on the MIDI thread: it only queues a request for the generation loop."""

    def __init__(self, cfg: TakesConfig, loop: GenerationLoop):
        self.loop = loop
        self.moves = {cc: move for cc, move in ((cfg.new_cc, "new"), (cfg.previous_cc, "previous"),
                                                (cfg.next_cc, "next")) if cc >= 0}
        self.program = cfg.new_program
        self.down: set[tuple[int, int]] = set()  # (channel, cc) held at 64 or more: a press acts once

    def __call__(self, event: tuple) -> None:
        status, channel, number, value = event
        if status == CONTROL and number in self.moves:
            if value < 64:
                self.down.discard((channel, number))
            elif (channel, number) not in self.down:
                self.down.add((channel, number))
                self.loop.request_take(self.moves[number])
        elif status == PROGRAM and number == self.program:
            self.loop.request_take("new")


class PromptHost:
    def __init__(self, config: Config, source: ModelSource, specs: Sequence[InstrumentSpec]):
        if not specs:
            raise ValueError("a prompt host needs at least one prompt")
        check_take_controls(config.takes, len(specs))
        self.config = config
        self.source = source
        cache_dir = config.path(config.cache.dir)
        bank = SampleBank(config.audio.sample_rate)
        self.store = SampleStore(cache_dir)
        self.cache = SampleCache(self.store, bank, config.cache.ram_budget_mb << 20,
                                 switch_semitones=config.cache.switch_semitones)
        self.generator = Generator(source, str(cache_dir), nice=config.generator.nice)
        self.loop = GenerationLoop(self.cache, Scheduler(config.prefetch), self.generator, config.generator.batch_size)
        empty = [Instrument.from_refs(spec.name, {}) for spec in specs]
        self.host = LiveHost(config, empty, bank, listener=TakeControls(config.takes, self.loop))
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

    def take(self, which: str | int) -> None:
        """Another take of the instrument being played (see ``GenerationLoop.request_take``)."""
        self.loop.request_take(which)

    def program(self, slot: int) -> None:
        """Select ``slot`` as a program change on every channel the host listens to would."""
        channel = self.config.midi.channel
        for c in range(16) if channel == 0 else (channel - 1,):
            self.host.send((PROGRAM, c, slot, 0))

    @property
    def slots(self) -> list[InstrumentSpec]:
        """The instrument of each program slot, in order."""
        specs = dict(self.loop.specs)  # a copy: the loop's thread may replace one meanwhile
        return [specs[slot] for slot in sorted(specs)]

    def save_set(self, path) -> None:
        """The session's slots as a set file (SetError if it cannot be written)."""
        save_set(path, self.slots)

    def stats(self) -> dict:
        stats = self.host.stats()
        loop, generator = self.loop, self.generator
        stats.update({
            "gen/made": generator.made,
            "gen/restarts": generator.restarts,
            "gen/lost": loop.lost,
            "gen/held_over": loop.held_over,
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
