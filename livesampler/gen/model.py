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

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from livesampler.gen.spec import InstrumentSpec, NoteKey, file_sha256
from livesampler.model import ModelError  # the model package's own error: imports no torch


class InstrumentModel(Protocol):
    sample_rate: int  # of the audio ``generate`` returns

    def generate(self, spec: InstrumentSpec, notes: list[NoteKey],
                 progress: Callable[[int], None] | None = None) -> list[np.ndarray]:
        """One float32 array [frames] or [frames, channels] per note, in order.

        Each note is made from ``spec.note_seed(note)``, so a note sounds the same
        whatever batch it was made in. ``progress(done)`` may be called as notes finish.
        """
        ...


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
        """The instrument ``prompt`` (or ``reference``) makes with this model; ValueError if both are empty."""
        return InstrumentSpec.make(prompt, reference, seed, sampling=self.sampling, model_ids=self.ids)


def _files_of(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    return [path]


def _content_id(path: Path) -> str:
    """A hash of what ``path`` holds (a file, or every file under a folder, with their names)."""
    h = hashlib.sha256()
    for f in _files_of(path):
        h.update(str(f.relative_to(path) if path.is_dir() else f.name).encode())
        h.update(file_sha256(f).encode())
    return h.hexdigest()[:16]


class PromptedModel:
    """The trained model behind the generator's interface: one CLAP embedding per instrument."""

    def __init__(self, cfg, root: str):
        from livesampler.model.instrument import NoteGenerator

        root_path = Path(root)
        self.notes = NoteGenerator.from_config(cfg, resolve=lambda p: (root_path / Path(p).expanduser()))
        self.sample_rate = self.notes.sample_rate
        self._embeddings: dict[str, np.ndarray] = {}
        self._references: dict[str, object] = {}

    def _embedding(self, spec: InstrumentSpec) -> np.ndarray:
        if spec.id not in self._embeddings:
            if spec.reference:
                import soundfile

                audio, rate = soundfile.read(spec.reference, dtype="float32")
                self._embeddings[spec.id] = self.notes.embed_audio(audio, rate)
            else:
                self._embeddings[spec.id] = self.notes.embed_text(spec.prompt)
        return self._embeddings[spec.id]

    def _reference(self, spec: InstrumentSpec):
        """The instrument's reference note (models with a reference encoder), made once per instrument."""
        if not self.notes.uses_reference:
            return None
        if spec.id not in self._references:
            from livesampler.model.instrument import REFERENCE_KEY

            audio = rate = None
            if spec.reference:
                import soundfile

                audio, rate = soundfile.read(spec.reference, dtype="float32")
            self._references[spec.id] = self.notes.prompt_reference(self._embedding(spec), spec.note_seed(REFERENCE_KEY),
                                                                    audio, rate)
        return self._references[spec.id]

    def generate(self, spec, notes, progress=None):
        # One seed per call: with batches of one (the CPU default) every note has
        # its own, so it sounds the same whenever it is made.
        reference = self._reference(spec)
        from livesampler.model.instrument import REFERENCE_KEY

        if reference is not None and not spec.reference and list(notes) == [REFERENCE_KEY]:
            return self.notes.decode(reference.codes[None], [REFERENCE_KEY[0]])  # the first note is that key
        return self.notes.generate(self._embedding(spec), [p for p, _ in notes], [v for _, v in notes],
                                   seed=spec.note_seed(notes[0]), reference=reference)


def prompted_model(cfg, root: str) -> PromptedModel:
    return PromptedModel(cfg, root)


def configured_source(config) -> ModelSource:
    """The model named in ``config.model``; ModelError, saying what to do, if its files are missing."""
    cfg = config.model
    keys = {"codec": "codec_weights", "clap": "clap_path", "lm": "lm_checkpoint"}
    if cfg.clap == "laion":
        keys["clap_text"] = "laion_text_dir"
    ids = {}
    for part, key in keys.items():
        path = config.path(getattr(cfg, key))
        if not path.exists():
            raise ModelError(f"model.{key} names {path}, which does not exist: train the pocket models "
                             "(livesampler train) or point config.toml at your weight files")
        ids[part] = _content_id(path)
    sampling = {"sampler": cfg.sampler, "top_k": cfg.top_k, "temperature": cfg.temperature,
                "guidance_scale": cfg.guidance_scale, "note_seconds": cfg.note_seconds}
    if cfg.sampler == "magnet":
        sampling["magnet_steps"] = cfg.magnet_steps
    return ModelSource(prompted_model, args=(cfg, str(config.root)), ids=ids, sampling=sampling,
                       device=cfg.device, threads=config.generator.threads)
