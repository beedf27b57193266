"""The codec language model: a transformer decoder over codec tokens, conditioned by cross-attention.

At each pattern step the embeddings of the K codebook tokens are summed into
one vector; self-attention runs over the steps (causal for the autoregressive
objective, bidirectional for MAGNeT's masked objective), cross-attention reads
the condition tokens, and K output heads give one distribution per codebook.

Two ways of making the model listen to its conditions, both off in the paper's
preset: ``condition_sum`` also adds a projection of the condition tokens to every
input step (audiocraft's "sum" fuser beside cross-attention), and
``reference_frames`` > 0 gives the model a reference note of the instrument,
its codes read by a small bidirectional encoder whose outputs join the
condition tokens in cross-attention (an in-context timbre, which a model
copies long before it learns to map an embedding to a sound). Token id ``codebook_size`` is the special token: the empty cells of
the delay pattern and the start step for the autoregressive objective, the
masked cells for the masked one. The heads never predict it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from livesampler.model import ModelError
from livesampler.model.conditions import CLAP_DIM, NUM_PITCHES, ConditionEncoder, Conditions
from livesampler.model.delay import DelayPattern

OBJECTIVES = ("autoregressive", "masked")


@dataclass(frozen=True)
class LMConfig:
    num_codebooks: int = 9  # K, from the codec
    codebook_size: int = 1024  # entries per codebook, from the codec
    dim: int = 512  # model width
    num_layers: int = 12
    num_heads: int = 8
    ffn_mult: int = 4  # feed-forward width = ffn_mult * dim
    dropout: float = 0.1  # training only
    clap_dim: int = CLAP_DIM
    # "autoregressive": causal, MusicGen delay pattern, sampled step by step.
    # "masked": bidirectional, no delays, sampled by MAGNeT's iterative decoding.
    objective: str = "autoregressive"
    condition_sum: bool = False  # condition tokens also summed into every input step
    reference_frames: int = 0  # frames of a reference note read by the reference encoder; 0: none
    reference_layers: int = 2  # its bidirectional layers
    reference_sum: bool = False  # the encoded reference frame t also summed into input step t

    def __post_init__(self):
        if self.objective not in OBJECTIVES:
            raise ModelError(f"objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}")
        if self.dim % self.num_heads:
            raise ModelError(f"dim {self.dim} is not a multiple of num_heads {self.num_heads}")

    @property
    def special_token(self) -> int:
        return self.codebook_size

    @property
    def pattern(self) -> DelayPattern:
        if self.objective == "autoregressive":
            return DelayPattern.musicgen(self.num_codebooks)
        return DelayPattern.parallel(self.num_codebooks)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> LMConfig:
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ModelError(f"unknown LM config keys {sorted(unknown)}: the checkpoint is from another version")
        return cls(**d)


PRESETS = {
    # The paper's size: about 60M parameters with DAC 44.1 kHz's 9 codebooks of 1024.
    "paper": LMConfig(num_codebooks=9, codebook_size=1024, dim=512, num_layers=12, num_heads=8),
    # Small enough to train on a 2-core CPU in hours, not days.
    "pocket": LMConfig(num_codebooks=4, codebook_size=256, dim=256, num_layers=4, num_heads=4),
}


def preset(name: str, **overrides) -> LMConfig:
    """A named preset, with fields (e.g. the codec's num_codebooks) replaced."""
    if name not in PRESETS:
        raise ModelError(f"unknown LM preset {name!r} (known: {', '.join(PRESETS)})")
    return LMConfig(**{**PRESETS[name].to_dict(), **overrides})


class KVCache:
    """Self-attention keys and values of the steps seen so far, for every layer.

    Allocated once for ``max_steps`` so that a step writes in place instead of
    concatenating. The cross-attention keys and values of the condition tokens
    do not change during a generation and are computed once, on the first call.
    """

    def __init__(self, num_layers: int, max_steps: int):
        self.max_steps = max_steps
        self.length = 0  # steps already in the cache
        self.keys: list[torch.Tensor | None] = [None] * num_layers  # [B, H, max_steps, hd] each
        self.values: list[torch.Tensor | None] = [None] * num_layers
        self.cross: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * num_layers
        self.aligned: torch.Tensor | None = None  # [B, R, D] the reference summed into the inputs, if any


def _sinusoids(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """[S] positions -> [S, D] sinusoidal embeddings (no parameters, no length limit)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=positions.device) / half)
    angles = positions.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


class SelfAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int, dropout: float):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, causal: bool, cache: tuple[KVCache, int] | None) -> torch.Tensor:
        B, S, D = x.shape
        q, k, v = self.qkv(x).view(B, S, 3, self.num_heads, D // self.num_heads).permute(2, 0, 3, 1, 4)  # [B, H, S, hd]
        start = 0
        if cache is not None:
            store, i = cache
            start = store.length
            if start + S > store.max_steps:
                raise ModelError(f"the KV cache holds {store.max_steps} steps, asked for {start + S}")
            if store.keys[i] is None:
                store.keys[i] = k.new_empty(B, self.num_heads, store.max_steps, D // self.num_heads)
                store.values[i] = v.new_empty(B, self.num_heads, store.max_steps, D // self.num_heads)
            store.keys[i][:, :, start:start + S] = k
            store.values[i][:, :, start:start + S] = v
            k, v = store.keys[i][:, :, :start + S], store.values[i][:, :, :start + S]
        mask = None
        if causal and S > 1:
            # query s (absolute position start + s) sees keys 0 .. start + s
            mask = torch.ones(S, start + S, dtype=torch.bool, device=x.device).tril(diagonal=start)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(B, S, D))


class CrossAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int, dropout: float):
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, memory: torch.Tensor, cache: tuple[KVCache, int] | None) -> torch.Tensor:
        B, S, D = x.shape
        hd = D // self.num_heads
        q = self.q(x).view(B, S, self.num_heads, hd).transpose(1, 2)  # [B, H, S, hd]
        if cache is not None and cache[0].cross[cache[1]] is not None:
            k, v = cache[0].cross[cache[1]]
        else:
            M = memory.shape[1]
            k, v = self.kv(memory).view(B, M, 2, self.num_heads, hd).permute(2, 0, 3, 1, 4)  # [B, H, M, hd]
            if cache is not None:
                cache[0].cross[cache[1]] = (k, v)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(B, S, D))


class EncoderBlock(nn.Module):
    """Pre-norm bidirectional self-attention and feed-forward (the reference encoder's layers)."""

    def __init__(self, cfg: LMConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.dim)
        self.self_attn = SelfAttention(cfg.dim, cfg.num_heads, cfg.dropout)
        self.norm2 = nn.LayerNorm(cfg.dim)
        self.ffn = nn.Sequential(nn.Linear(cfg.dim, cfg.ffn_mult * cfg.dim), nn.GELU(),
                                 nn.Linear(cfg.ffn_mult * cfg.dim, cfg.dim))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x):
        x = x + self.drop(self.self_attn(self.norm1(x), False, None))
        return x + self.drop(self.ffn(self.norm2(x)))


class ReferenceEncoder(nn.Module):
    """A reference note's codes [B, K, R] and pitch -> R memory tokens [B, R, D].

    A row without a reference reads as R special tokens and the null pitch, so
    the memory is always R tokens long and the model learns what "none" means."""

    def __init__(self, cfg: LMConfig):
        super().__init__()
        self.cfg = cfg
        self.embeddings = nn.ModuleList(nn.Embedding(cfg.codebook_size + 1, cfg.dim) for _ in range(cfg.num_codebooks))
        self.pitch = nn.Embedding(NUM_PITCHES + 1, cfg.dim)
        self.blocks = nn.ModuleList(EncoderBlock(cfg) for _ in range(cfg.reference_layers))
        self.norm = nn.LayerNorm(cfg.dim)

    def codes_of(self, c: Conditions) -> torch.Tensor:
        """The [B, K, R] codes the encoder reads: cropped or padded with the special token to R frames."""
        K, R, special = self.cfg.num_codebooks, self.cfg.reference_frames, self.cfg.special_token
        B = c.batch_size
        codes = torch.full((B, K, R), special, dtype=torch.long, device=c.pitch.device)
        ref = c.reference
        if ref.dim() == 3 and ref.shape[0] == B and ref.shape[2] > 0:
            if ref.shape[1] < K:
                raise ModelError(f"the reference has {ref.shape[1]} codebooks, the model reads {K}")
            n = min(R, ref.shape[2])
            codes[:, :, :n] = ref[:, :K, :n].clamp(0, special)
        return torch.where(c.has_reference[:, None, None], codes, special)

    def forward(self, c: Conditions) -> torch.Tensor:
        codes = self.codes_of(c)
        # Scaled as in the original transformer: at their initial size (std 0.02) the codes would be
        # a few percent of the position signal, every reference would encode alike, and the decoder
        # would never find out that the reference says anything (seen in training: no gain at all).
        x = math.sqrt(self.cfg.dim) * sum(emb(codes[:, k]) for k, emb in enumerate(self.embeddings))  # [B, R, D]
        pitch = torch.where(c.has_reference, c.reference_pitch, torch.full_like(c.reference_pitch, -1))
        x = x + _sinusoids(torch.arange(codes.shape[2], device=codes.device), self.cfg.dim) + self.pitch(pitch + 1)[:, None]
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


class Block(nn.Module):
    """Pre-norm: self-attention, cross-attention to the conditions, feed-forward."""

    def __init__(self, cfg: LMConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.dim)
        self.self_attn = SelfAttention(cfg.dim, cfg.num_heads, cfg.dropout)
        self.norm2 = nn.LayerNorm(cfg.dim)
        self.cross_attn = CrossAttention(cfg.dim, cfg.num_heads, cfg.dropout)
        self.norm3 = nn.LayerNorm(cfg.dim)
        self.ffn = nn.Sequential(nn.Linear(cfg.dim, cfg.ffn_mult * cfg.dim), nn.GELU(),
                                 nn.Linear(cfg.ffn_mult * cfg.dim, cfg.dim))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, memory, causal, cache):
        x = x + self.drop(self.self_attn(self.norm1(x), causal, cache))
        x = x + self.drop(self.cross_attn(self.norm2(x), memory, cache))
        return x + self.drop(self.ffn(self.norm3(x)))


class LanguageModel(nn.Module):
    def __init__(self, cfg: LMConfig):
        super().__init__()
        self.cfg = cfg
        self.pattern = cfg.pattern
        self.causal = cfg.objective == "autoregressive"
        # codebook_size + 1 rows: the last is the special token
        self.embeddings = nn.ModuleList(nn.Embedding(cfg.codebook_size + 1, cfg.dim) for _ in range(cfg.num_codebooks))
        self.conditions = ConditionEncoder(cfg.dim, cfg.clap_dim)
        self.fuse = nn.Linear(ConditionEncoder.num_tokens * cfg.dim, cfg.dim) if cfg.condition_sum else None
        self.reference = ReferenceEncoder(cfg) if cfg.reference_frames > 0 else None
        # Time-aligned: step t of the note being made reads frame t of the reference directly, the
        # shortest path from a reference's envelope and spectrum to the note that copies them.
        self.reference_in = nn.Linear(cfg.dim, cfg.dim) if cfg.reference_frames > 0 and cfg.reference_sum else None
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.num_layers))
        self.norm = nn.LayerNorm(cfg.dim)
        self.heads = nn.ModuleList(nn.Linear(cfg.dim, cfg.codebook_size) for _ in range(cfg.num_codebooks))
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def new_cache(self, max_steps: int) -> KVCache:
        return KVCache(self.cfg.num_layers, max_steps)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, inputs: torch.Tensor, conditions: Conditions, cache: KVCache | None = None) -> torch.Tensor:
        """inputs [B, K, S] token ids -> logits [B, K, S, codebook_size].

        Autoregressive objective: the logits at step s predict the pattern token
        at step s, from the inputs up to s (inputs are the pattern shifted right
        by one, the special token first). With a cache, ``inputs`` are the steps
        that follow those already cached.
        """
        B, K, S = inputs.shape
        if K != self.cfg.num_codebooks:
            raise ModelError(f"the model has {self.cfg.num_codebooks} codebooks, the input has {K}")
        start = cache.length if cache is not None else 0
        x = sum(emb(inputs[:, k]) for k, emb in enumerate(self.embeddings))  # [B, S, D]
        x = x + _sinusoids(torch.arange(start, start + S, device=inputs.device), self.cfg.dim)
        # With a cache the memory is only needed on the first call, to fill the cross keys.
        need_memory = cache is None or cache.cross[0] is None
        tokens = self.conditions(conditions) if need_memory or self.fuse is not None else None  # [B, 5, D]
        if self.fuse is not None:
            x = x + self.fuse(tokens.flatten(1))[:, None]
        memory = None
        if need_memory:
            encoded = self.reference(conditions) if self.reference is not None else None
            memory = tokens if encoded is None else torch.cat([tokens, encoded], dim=1)
            if self.reference_in is not None:
                aligned = self.reference_in(encoded)
                if cache is not None:
                    cache.aligned = aligned
        elif self.reference_in is not None:
            aligned = cache.aligned
        if self.reference_in is not None:
            R = aligned.shape[1]
            end = min(start + S, R)
            if end > start:
                x = x + F.pad(aligned[:, start:end], (0, 0, 0, S - (end - start)))
        for i, block in enumerate(self.blocks):
            x = block(x, memory, self.causal, (cache, i) if cache is not None else None)
        if cache is not None:
            cache.length += S
        x = self.norm(x)
        return torch.stack([head(x) for head in self.heads], dim=1)  # [B, K, S, card]

    def guided_logits(self, inputs: torch.Tensor, conditions: Conditions, scale: float,
                      cache: KVCache | None = None) -> torch.Tensor:
        """Classifier-free guidance: uncond + scale * (cond - uncond), both halves in one batch.

        With a cache, the cache holds 2B rows (conditional first). Scale 1 is the
        conditional model alone and skips the unconditional half.
        """
        if scale == 1.0:
            return self(inputs, conditions, cache)
        both = self(torch.cat([inputs, inputs]), conditions.cat(conditions.null()), cache)
        cond, uncond = both.chunk(2)
        return uncond + scale * (cond - uncond)

    def start_token_column(self, batch: int, device) -> torch.Tensor:
        return torch.full((batch, self.cfg.num_codebooks, 1), self.cfg.special_token, dtype=torch.long, device=device)

    def loss(self, codes: torch.Tensor, conditions: Conditions,
             generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """codes [B, K, T] -> (mean cross-entropy, cross-entropy per codebook [K]).

        The masked objective draws its masks from ``generator``.
        """
        if self.causal:
            return self._autoregressive_loss(codes, conditions)
        return self._masked_loss(codes, conditions, generator)

    def _autoregressive_loss(self, codes, conditions):
        per_cell = self.frame_losses(codes, conditions)  # [B, K, T]
        per_codebook = per_cell.mean(dim=(0, 2))
        return per_codebook.mean(), per_codebook

    def frame_losses(self, codes: torch.Tensor, conditions: Conditions) -> torch.Tensor:
        """Cross-entropy of every code, [B, K, T] nats, laid out by frame (autoregressive objective)."""
        if not self.causal:
            raise ModelError("frame_losses needs the autoregressive objective")
        B, K, T = codes.shape
        pattern = self.pattern.build(codes, self.cfg.special_token)  # [B, K, S]
        inputs = torch.cat([self.start_token_column(B, codes.device), pattern[:, :, :-1]], dim=2)
        logits = self(inputs, conditions)  # [B, K, S, card]
        cells = F.cross_entropy(logits.reshape(-1, self.cfg.codebook_size),
                                pattern.clamp(max=self.cfg.codebook_size - 1).reshape(-1),
                                reduction="none").view(B, K, -1)  # [B, K, S]; the special cells are dropped below
        return torch.stack([cells[:, k, d:d + T] for k, d in enumerate(self.pattern.delays)], dim=1)

    def _masked_loss(self, codes, conditions, generator):
        """MAGNeT: pick a codebook k per example, mask a cosine-scheduled share of its frames,
        mask every codebook above k, keep those below; learn the masked cells of k."""
        B, K, T = codes.shape
        device = codes.device
        stage = torch.randint(0, K, (B,), generator=generator).to(device)  # [B]
        share = torch.cos(math.pi / 2 * torch.rand(B, generator=generator)).to(device)  # [B] in (0, 1]
        masked = torch.rand(B, T, generator=generator).to(device) < share[:, None]  # [B, T]
        masked[torch.arange(B, device=device), torch.randint(0, T, (B,), generator=generator).to(device)] = True
        ks = torch.arange(K, device=device)[None, :, None]  # [1, K, 1]
        hide = (ks > stage[:, None, None]) | ((ks == stage[:, None, None]) & masked[:, None, :])  # [B, K, T]
        inputs = torch.where(hide, torch.full_like(codes, self.cfg.special_token), codes)
        logits = self(inputs, conditions)  # [B, K, T, card]
        learn = (ks == stage[:, None, None]) & masked[:, None, :]  # [B, K, T]
        per_codebook = torch.stack([
            F.cross_entropy(logits[:, k][learn[:, k]], codes[:, k][learn[:, k]])
            if learn[:, k].any() else logits.new_zeros(())
            for k in range(K)
        ])
        return F.cross_entropy(logits[learn], codes[learn]), per_codebook
