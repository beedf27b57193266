"""What an instrument is: everything that determines its sound, and its id.

Two requests for the same prompt, reference sound, seed and sampling settings
with the same model files make the same instrument, so they share one folder of
the sample cache, across sessions and hosts. Anything else is another
instrument. The id is a hash of a canonical JSON form of all of it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from livesampler.rt.instrument import LAYER_OF_VELOCITY, VELOCITY_LAYERS

LOWEST_PITCH, HIGHEST_PITCH = 21, 108  # the piano's range, as NSynth's pitch condition
PITCHES = tuple(range(LOWEST_PITCH, HIGHEST_PITCH + 1))
LAYERS = VELOCITY_LAYERS

# (pitch, velocity layer): one sample of an instrument.
NoteKey = tuple[int, int]

ALL_KEYS: tuple[NoteKey, ...] = tuple((p, v) for p in PITCHES for v in LAYERS)


def layer_of(velocity: int) -> int:
    """The velocity layer a MIDI velocity plays from (nearest; ties go up)."""
    return LAYER_OF_VELOCITY[velocity]


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class InstrumentSpec:
    """A text prompt or a reference sound, plus how it is turned into samples."""

    prompt: str = ""
    reference: str = ""  # path of a reference sound; its content, not its path, is part of the id
    reference_sha256: str = ""
    seed: int = 0
    sampling: tuple[tuple[str, object], ...] = ()  # sorted (name, value) pairs
    model_ids: tuple[tuple[str, str], ...] = ()  # sorted (part, content hash)
    name: str = field(default="", compare=False)  # for people; not part of the identity

    @classmethod
    def make(cls, prompt: str = "", reference: str | Path = "", seed: int = 0,
             sampling: dict | None = None, model_ids: dict | None = None) -> "InstrumentSpec":
        prompt = " ".join(prompt.split())
        if not prompt and not reference:
            raise ValueError("an instrument needs a text prompt or a reference sound; the prompt is empty")
        ref_hash = ""
        if reference:
            reference = Path(reference)
            if not reference.is_file():
                raise ValueError(f"reference sound {reference} does not exist")
            ref_hash = file_sha256(reference)
        name = prompt or f"like {Path(reference).name}"
        return cls(prompt=prompt, reference=str(reference) if reference else "", reference_sha256=ref_hash,
                   seed=int(seed), sampling=tuple(sorted((sampling or {}).items())),
                   model_ids=tuple(sorted((model_ids or {}).items())), name=name)

    def identity(self) -> dict:
        """What determines the sound, as plain JSON values."""
        return {
            "prompt": self.prompt,
            "reference_sha256": self.reference_sha256,
            "seed": self.seed,
            "sampling": dict(self.sampling),
            "model_ids": dict(self.model_ids),
        }

    def with_seed(self, seed: int) -> "InstrumentSpec":
        """Another take of this instrument: everything the same but the seed, so another id and another sound."""
        return replace(self, seed=int(seed))

    @property
    def id(self) -> str:
        canonical = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:20]

    def note_seed(self, key: NoteKey) -> int:
        """A seed per note, so that a note sounds the same whatever batch it was made in."""
        digest = hashlib.sha256(f"{self.id}:{key[0]}:{key[1]}".encode()).digest()
        return int.from_bytes(digest[:4], "little")
