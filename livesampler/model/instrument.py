"""The model as the generator process sees it: prompts in, notes out.

One ``NoteGenerator`` holds a codec, a CLAP and a language model trained with
both. An instrument is one CLAP embedding (from a text or an audio prompt);
its notes are generated in batches, every requested (pitch, velocity) from the
same embedding, and decoded to float32 audio at the codec's sample rate.

A language model with a reference encoder also reads one reference note of the
instrument for every key, so that all keys share one timbre and envelope: an
audio prompt's own sound, encoded by the codec, or, for a text prompt, the
instrument's first note (middle C, velocity 100), made from the prompt alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from livesampler.config import ModelConfig
from livesampler.model import ModelError
from livesampler.model.checkpoint import load_lm
from livesampler.model.clap import ClapEncoder, load_clap
from livesampler.model.codec import Codec, load_codec
from livesampler.model.conditions import Conditions
from livesampler.model.lm import LanguageModel
from livesampler.model.sampling import SamplerSettings, generate


# Notes decoded per codec call. A codec decoder's activations grow with its
# output rate: DAC 44.1 kHz's last blocks hold 96-192 channels at 22-44 kHz,
# about 17 MB per tensor per second of audio, so a whole LM batch of 4 s notes
# decoded at once would need many GB.
DECODE_BATCH = 8


REFERENCE_KEY = (60, 100)  # (pitch, velocity) of the note a text prompt's other keys copy


@dataclass(frozen=True)
class Reference:
    """A reference note: codec codes [K, T] and its MIDI pitch."""
    codes: torch.Tensor
    pitch: int


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ModelError("model.device is \"cuda\" but torch sees no CUDA device: set it to \"auto\" or \"cpu\"")
    return torch.device(name)


def sampler_settings(cfg: ModelConfig) -> SamplerSettings:
    return SamplerSettings(name=cfg.sampler, top_k=cfg.top_k, temperature=cfg.temperature,
                           guidance_scale=cfg.guidance_scale, seed=cfg.seed, max_batch=cfg.max_batch,
                           magnet_steps=cfg.magnet_steps)


class NoteGenerator:
    def __init__(self, codec: Codec, clap: ClapEncoder, lm: LanguageModel,
                 settings: SamplerSettings = SamplerSettings(), note_seconds: float = 4.0):
        if lm.cfg.num_codebooks > codec.num_codebooks or lm.cfg.codebook_size != codec.codebook_size:
            raise ModelError(f"the LM models {lm.cfg.num_codebooks} codebooks of {lm.cfg.codebook_size}, the codec "
                             f"has {codec.num_codebooks} of {codec.codebook_size}: use the codec it was trained with")
        self.codec, self.clap, self.lm = codec, clap, lm.eval()
        self.settings = settings
        self.note_seconds = note_seconds

    @classmethod
    def from_config(cls, cfg: ModelConfig, resolve: Callable[[str], Path] = Path) -> NoteGenerator:
        """``resolve`` turns the config's paths into files (``Config.path``)."""
        device = pick_device(cfg.device)
        codec = load_codec(cfg.codec, resolve(cfg.codec_weights), device)
        clap = load_clap(cfg.clap, resolve(cfg.clap_path), resolve(cfg.laion_text_dir), cfg.laion_audio_model, device)
        lm, _ = load_lm(resolve(cfg.lm_checkpoint), codec_id=codec.id, clap_id=clap.id, device=device)
        return cls(codec, clap, lm, sampler_settings(cfg), cfg.note_seconds)

    @property
    def sample_rate(self) -> int:
        return self.codec.sample_rate

    def embed_text(self, prompt: str) -> np.ndarray:
        """-> [512] float32, unit length."""
        return self.clap.embed_text([prompt])[0].cpu().numpy().astype(np.float32)

    def embed_audio(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """audio [N] or [N, channels] (mixed to mono) -> [512] float32, unit length."""
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim == 2:
            audio = audio.mean(axis=1)
        return self.clap.embed_audio(torch.from_numpy(audio)[None], sample_rate)[0].cpu().numpy().astype(np.float32)

    @property
    def uses_reference(self) -> bool:
        return self.lm.reference is not None

    def encode_reference(self, audio: np.ndarray, sample_rate: int) -> Reference:
        """A reference sound (mono or [N, channels]) -> its codes and estimated MIDI pitch."""
        import soxr

        from livesampler.model.hnc import estimate_pitch

        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim == 2:
            audio = audio.mean(axis=1)
        if sample_rate != self.codec.sample_rate:
            audio = soxr.resample(audio, sample_rate, self.codec.sample_rate).astype(np.float32)
        audio = audio[:round(self.note_seconds * self.codec.sample_rate)]
        pitch = int(min(108, max(21, estimate_pitch(audio, self.codec.sample_rate))))
        codes = self.codec.encode(torch.from_numpy(audio)[None], pitch=torch.tensor([pitch]))[0]
        return Reference(codes.cpu(), pitch)

    def first_note(self, clap_embedding: np.ndarray, seed: int,
                   settings: SamplerSettings | None = None) -> Reference:
        """A text prompt's reference: the instrument's note at REFERENCE_KEY, made from the prompt alone."""
        settings = replace(settings or self.settings, seed=seed)
        pitch, velocity = REFERENCE_KEY
        conditions = Conditions.make([pitch], [velocity], clap=torch.as_tensor(np.asarray(clap_embedding)))
        codes = generate(self.lm, conditions, self.codec.num_frames(self.note_seconds), settings)
        return Reference(codes[0].cpu(), pitch)

    def prompt_reference(self, clap_embedding: np.ndarray, seed: int, audio: np.ndarray | None = None,
                         sample_rate: int | None = None) -> Reference | None:
        """What an instrument's keys copy: an audio prompt's sound, or a text prompt's first note;
        None for a model without a reference encoder."""
        if not self.uses_reference:
            return None
        if audio is not None:
            return self.encode_reference(audio, sample_rate or self.sample_rate)
        return self.first_note(clap_embedding, seed)

    def generate(self, clap_embedding: np.ndarray, pitches: list[int], velocities: list[int],
                 seed: int | None = None, settings: SamplerSettings | None = None,
                 reference: Reference | None = None) -> list[np.ndarray]:
        """One float32 note [round(note_seconds * sample_rate)] per (pitch, velocity) pair, in order."""
        if len(pitches) != len(velocities):
            raise ModelError(f"{len(pitches)} pitches but {len(velocities)} velocities")
        settings = settings or self.settings
        if seed is not None:
            settings = replace(settings, seed=seed)
        ref = {}
        if reference is not None and self.uses_reference:
            ref = dict(reference=reference.codes, reference_pitch=reference.pitch)
        conditions = Conditions.make(pitches, velocities, clap=torch.as_tensor(np.asarray(clap_embedding)), **ref)
        codes = generate(self.lm, conditions, self.codec.num_frames(self.note_seconds), settings)  # [B, K, T]
        return self.decode(codes, pitches)

    def decode(self, codes: torch.Tensor, pitches: list[int]) -> list[np.ndarray]:
        """codes [B, K, T] -> one float32 note per pitch."""
        length = round(self.note_seconds * self.sample_rate)
        notes = []
        for first in range(0, len(pitches), DECODE_BATCH):
            chunk = slice(first, first + DECODE_BATCH)
            audio = self.codec.decode(codes[chunk], pitch=torch.tensor(pitches[chunk]))  # [b, N]
            notes.extend(a[:length].float().cpu().numpy() for a in audio)
        return notes
