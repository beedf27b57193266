"""Turning a trained language model into codes: two samplers, selected by name.

- "autoregressive": one pattern step at a time with a KV cache, so each step
  costs one new position per layer (S = T + K - 1 steps for T frames).
- "magnet": MAGNeT-style iterative parallel decoding for a model trained with
  the masked objective: codebook by codebook, all frames start masked, and each
  of ``magnet_steps`` passes fixes the most confident predictions, keeping a
  cosine-scheduled share masked for the next pass (K * magnet_steps passes).

Both use top-k sampling with a temperature and classifier-free guidance, and
``generate`` runs a whole instrument, every (pitch, velocity) in one call, in
chunks of at most ``max_batch`` notes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from livesampler.model import ModelError
from livesampler.model.conditions import Conditions
from livesampler.model.lm import LanguageModel

SAMPLERS = ("autoregressive", "magnet")


@dataclass(frozen=True)
class SamplerSettings:
    name: str = "autoregressive"  # one of SAMPLERS
    top_k: int = 250  # sample among the k most likely tokens; 1 is greedy
    temperature: float = 1.0  # divides the logits; 0 is greedy
    guidance_scale: float = 3.0  # classifier-free guidance; 1 = conditional model alone
    seed: int = 0
    max_batch: int = 64  # notes per forward pass (guidance doubles the rows)
    magnet_steps: int = 10  # decoding passes per codebook ("magnet" only)

    def __post_init__(self):
        if self.name not in SAMPLERS:
            raise ModelError(f"sampler must be one of {', '.join(SAMPLERS)}, got {self.name!r}")
        if self.top_k < 1 or self.temperature < 0 or self.max_batch < 1 or self.magnet_steps < 1:
            raise ModelError(f"sampler settings out of range: {self}")


def sample_top_k(logits: torch.Tensor, top_k: int, temperature: float,
                 generator: torch.Generator | None) -> torch.Tensor:
    """logits [..., card] -> token ids [...]."""
    if top_k == 1 or temperature == 0:
        return logits.argmax(dim=-1)
    values, indices = (logits / temperature).topk(min(top_k, logits.shape[-1]), dim=-1)  # [..., k]
    probs = values.softmax(dim=-1)
    choice = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator)  # [N, 1]
    return indices.reshape(-1, indices.shape[-1]).gather(1, choice).reshape(logits.shape[:-1])


@torch.inference_mode()
def generate_autoregressive(lm: LanguageModel, conditions: Conditions, num_frames: int,
                            settings: SamplerSettings, generator: torch.Generator | None = None,
                            use_cache: bool = True) -> torch.Tensor:
    """-> codes [B, K, T]. ``use_cache=False`` recomputes the whole prefix each step (for tests)."""
    if lm.cfg.objective != "autoregressive":
        raise ModelError("the autoregressive sampler needs a model trained with the autoregressive "
                         "objective; this one was trained for MAGNeT (set sampler = \"magnet\")")
    device = next(lm.parameters()).device
    conditions = conditions.to(device)
    B, K, special = conditions.batch_size, lm.cfg.num_codebooks, lm.cfg.special_token
    S = lm.pattern.num_steps(num_frames)
    valid = lm.pattern.valid_mask(num_frames, device)  # [K, S]
    seq = torch.full((B, K, S + 1), special, dtype=torch.long, device=device)  # step 0 is the start token
    cache = lm.new_cache(S) if use_cache else None
    for s in range(S):
        inputs = seq[:, :, s:s + 1] if use_cache else seq[:, :, :s + 1]
        logits = lm.guided_logits(inputs, conditions, settings.guidance_scale, cache)[:, :, -1]  # [B, K, card]
        tokens = sample_top_k(logits, settings.top_k, settings.temperature, generator)  # [B, K]
        seq[:, :, s + 1] = torch.where(valid[:, s], tokens, special)
    return lm.pattern.revert(seq[:, :, 1:])


@torch.inference_mode()
def generate_magnet(lm: LanguageModel, conditions: Conditions, num_frames: int,
                    settings: SamplerSettings, generator: torch.Generator | None = None) -> torch.Tensor:
    """-> codes [B, K, T]."""
    if lm.cfg.objective != "masked":
        raise ModelError("the magnet sampler needs a model trained with the masked objective; "
                         "this one is autoregressive (set sampler = \"autoregressive\")")
    device = next(lm.parameters()).device
    conditions = conditions.to(device)
    B, K, T, special = conditions.batch_size, lm.cfg.num_codebooks, num_frames, lm.cfg.special_token
    codes = torch.full((B, K, T), special, dtype=torch.long, device=device)
    for k in range(K):
        masked = torch.ones(B, T, dtype=torch.bool, device=device)
        for i in range(settings.magnet_steps):
            logits = lm.guided_logits(codes, conditions, settings.guidance_scale)[:, k]  # [B, T, card]
            tokens = sample_top_k(logits, settings.top_k, settings.temperature, generator)  # [B, T]
            confidence = logits.softmax(dim=-1).gather(-1, tokens[..., None])[..., 0]  # [B, T]
            proposal = torch.where(masked, tokens, codes[:, k])
            # Cells fixed in earlier passes stay fixed: they never have the lowest confidence.
            confidence = torch.where(masked, confidence, torch.inf)
            still_masked = math.floor(T * math.cos(math.pi / 2 * (i + 1) / settings.magnet_steps))
            masked = torch.zeros_like(masked)
            if still_masked > 0:
                masked.scatter_(1, confidence.topk(still_masked, dim=1, largest=False).indices, True)
            codes[:, k] = torch.where(masked, special, proposal)
    return codes


def generate(lm: LanguageModel, conditions: Conditions, num_frames: int, settings: SamplerSettings) -> torch.Tensor:
    """Codes [B, K, T] for every note in ``conditions``, at most ``settings.max_batch`` notes per pass.

    The same conditions and settings give the same codes (one generator, seeded
    once, drawn from in chunk order).
    """
    device = next(lm.parameters()).device
    generator = torch.Generator(device=device).manual_seed(settings.seed)
    sampler = generate_autoregressive if settings.name == "autoregressive" else generate_magnet
    chunks = []
    for first in range(0, conditions.batch_size, settings.max_batch):
        index = torch.arange(first, min(first + settings.max_batch, conditions.batch_size))
        chunks.append(sampler(lm, conditions.select(index), num_frames, settings, generator))
    return torch.cat(chunks)
