"""What the generator process needs of a model, and how it gets one.

A model turns an instrument (a prompt or a reference sound, a seed, sampling
settings) and a batch of notes into audio. The generator process knows nothing
else about it, so the paper-size model on a GPU, the pocket model on a CPU and
the test doubles are interchangeable.

The model is built inside the generator process, from a ``ModelSource``: a
picklable recipe (a module-level factory and its arguments) plus the ids of the
files it loads, which the host needs before the model exists (they are part of
every instrument's id, and the cache on disk is usable at once).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from livesampler.gen.spec import InstrumentSpec, NoteKey


class InstrumentModel(Protocol):
    sample_rate: int  # of the audio ``generate`` returns

    def generate(self, spec: InstrumentSpec, notes: list[NoteKey],
                 progress: Callable[[int], None] | None = None) -> list[np.ndarray]:
        """One float32 array [frames] or [frames, channels] per note, in order.

        Each note is made from ``spec.note_seed(note)``, so a note sounds the same
        whatever batch it was made in. ``progress(done)`` may be called as notes finish.
        """
        ...


class ModelError(Exception):
    """A model that cannot be built or run; the message says what to do."""


@dataclass(frozen=True)
class ModelSource:
    factory: Callable[..., InstrumentModel]  # module-level, so the spawned process can import it
    args: tuple = ()
    ids: dict[str, str] = field(default_factory=dict)  # part -> content hash, part of every instrument id
    sampling: dict = field(default_factory=dict)  # settings that change the sound, part of every id
    device: str = "cpu"
    threads: int = 1

    def build(self) -> InstrumentModel:
        return self.factory(*self.args)

    def spec(self, prompt: str = "", reference: str = "", seed: int = 0) -> InstrumentSpec:
        return InstrumentSpec.make(prompt, reference, seed, sampling=self.sampling, model_ids=self.ids)
