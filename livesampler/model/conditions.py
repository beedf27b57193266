"""What a note is conditioned on, and how conditions become cross-attention tokens.

Conditions travel as a typed container of index tensors. A categorical value
of -1 (``NULL``), or a missing CLAP row, stands for "not given": it is replaced
by a learned null embedding. The same nulls are what condition dropout uses in
training and what the unconditional pass of classifier-free guidance sees, so
the model learns to generate without any condition, and at inference a note
whose family or source is not known is simply conditioned without it.

A reference note (its codec codes and pitch) is the strongest condition a model
with a reference encoder (``LMConfig.reference_frames``) takes: a note of the
instrument being made, so that every key copies one timbre and one envelope.
An audio prompt gives it directly (encoded by the codec); a text prompt first
makes it from the other conditions. Models without the encoder ignore it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn as nn

from livesampler.model import ModelError

NULL = -1
LOWEST_PITCH, HIGHEST_PITCH = 21, 108  # the piano's range, as in NSynth's instruments
NUM_PITCHES = HIGHEST_PITCH - LOWEST_PITCH + 1
VELOCITY_LAYERS = (25, 50, 75, 100, 127)  # NSynth's velocities
# NSynth's instrument families and source types, in NSynth's index order.
FAMILIES = ("bass", "brass", "flute", "guitar", "keyboard", "mallet", "organ", "reed", "string",
            "synth_lead", "vocal")
SOURCES = ("acoustic", "electronic", "synthetic")
CLAP_DIM = 512


def velocity_layer(velocity: int) -> int:
    """Index of the velocity layer nearest to a MIDI velocity (1-127)."""
    if not 1 <= velocity <= 127:
        raise ModelError(f"velocity must be 1-127, got {velocity}")
    return min(range(len(VELOCITY_LAYERS)), key=lambda i: abs(VELOCITY_LAYERS[i] - velocity))


@dataclass
class Conditions:
    pitch: torch.Tensor  # [B] long, index 0..87 for MIDI 21..108, or NULL
    velocity: torch.Tensor  # [B] long, index into VELOCITY_LAYERS, or NULL
    family: torch.Tensor  # [B] long, index into FAMILIES, or NULL
    source: torch.Tensor  # [B] long, index into SOURCES, or NULL
    clap: torch.Tensor  # [B, 512] float; rows where has_clap is False are ignored
    has_clap: torch.Tensor  # [B] bool
    reference: torch.Tensor  # [B, K, R] long codec codes of a reference note (R may be 0); see has_reference
    reference_pitch: torch.Tensor  # [B] long, index 0..87 of the reference note's pitch, or NULL
    has_reference: torch.Tensor  # [B] bool: rows where it is False have no reference

    @classmethod
    def make(cls, pitches: list[int], velocities: list[int] | None = None, families: list[int] | None = None,
             sources: list[int] | None = None, clap: torch.Tensor | None = None,
             reference: torch.Tensor | None = None, reference_pitch: int | list[int] | None = None) -> Conditions:
        """From MIDI pitches (21-108) and MIDI velocities (1-127); a list left out is NULL throughout.

        ``clap`` is [512] (shared by every note) or [B, 512]; ``reference`` is codes [K, R]
        (shared) or [B, K, R], with its MIDI pitch (one, or one per note).
        """
        B = len(pitches)
        for p in pitches:
            if not LOWEST_PITCH <= p <= HIGHEST_PITCH:
                raise ModelError(f"pitch must be MIDI {LOWEST_PITCH}-{HIGHEST_PITCH}, got {p}")

        def column(values, count, what):
            if values is None:
                return torch.full((B,), NULL, dtype=torch.long)
            if len(values) != B:
                raise ModelError(f"{len(values)} {what} for {B} pitches")
            if any(not (v == NULL or 0 <= v < count) for v in values):
                raise ModelError(f"{what} must be indices 0-{count - 1} (or {NULL} for none), got {values}")
            return torch.tensor(values, dtype=torch.long)

        layers = None if velocities is None else [velocity_layer(v) for v in velocities]
        if clap is None:
            clap_rows, has_clap = torch.zeros(B, CLAP_DIM), torch.zeros(B, dtype=torch.bool)
        else:
            rows = clap.float().reshape(-1, clap.shape[-1])
            if rows.shape[1] != CLAP_DIM or rows.shape[0] not in (1, B):
                raise ModelError(f"the CLAP embedding must be [{CLAP_DIM}] or [{B}, {CLAP_DIM}], got {list(clap.shape)}")
            clap_rows = rows.expand(B, CLAP_DIM).clone()
            has_clap = torch.ones(B, dtype=torch.bool)
        if reference is None:
            ref, ref_pitch, has_ref = torch.zeros(B, 0, 0, dtype=torch.long), column(None, 0, ""), \
                torch.zeros(B, dtype=torch.bool)
        else:
            ref = torch.as_tensor(reference).long()
            ref = ref[None].expand(B, *ref.shape).clone() if ref.dim() == 2 else ref
            if ref.dim() != 3 or ref.shape[0] != B:
                raise ModelError(f"the reference must be codes [K, R] or [{B}, K, R], got {list(reference.shape)}")
            rp = [reference_pitch] * B if isinstance(reference_pitch, int) else reference_pitch
            if rp is None or len(rp) != B or any(not LOWEST_PITCH <= p <= HIGHEST_PITCH for p in rp):
                raise ModelError(f"a reference needs its MIDI pitch ({LOWEST_PITCH}-{HIGHEST_PITCH}), "
                                 f"got {reference_pitch}")
            ref_pitch = torch.tensor([p - LOWEST_PITCH for p in rp], dtype=torch.long)
            has_ref = torch.ones(B, dtype=torch.bool)
        return cls(
            pitch=torch.tensor([p - LOWEST_PITCH for p in pitches], dtype=torch.long),
            velocity=column(layers, len(VELOCITY_LAYERS), "velocities"),
            family=column(families, len(FAMILIES), "families"),
            source=column(sources, len(SOURCES), "sources"),
            clap=clap_rows,
            has_clap=has_clap,
            reference=ref,
            reference_pitch=ref_pitch,
            has_reference=has_ref,
        )

    @property
    def batch_size(self) -> int:
        return self.pitch.shape[0]

    def null(self) -> Conditions:
        """The same batch with every condition removed: the unconditional input."""
        B = self.batch_size
        empty = torch.full((B,), NULL, dtype=torch.long, device=self.pitch.device)
        return Conditions(empty, empty, empty, empty, torch.zeros_like(self.clap),
                          torch.zeros_like(self.has_clap), torch.zeros_like(self.reference), empty,
                          torch.zeros_like(self.has_reference))

    def cat(self, other: Conditions) -> Conditions:
        a, b = self, other
        if a.reference.shape[1:] != b.reference.shape[1:]:  # one side without a reference: give it empty codes
            if a.has_reference.any() and b.has_reference.any():
                raise ModelError(f"references of different shapes: {list(a.reference.shape)}, {list(b.reference.shape)}")
            if a.has_reference.any():
                b = b.replace(reference=a.reference.new_zeros(b.batch_size, *a.reference.shape[1:]))
            else:
                a = a.replace(reference=b.reference.new_zeros(a.batch_size, *b.reference.shape[1:]))
        return Conditions(*(torch.cat([x, y]) for x, y in zip(a._fields(), b._fields())))

    def replace(self, **changes) -> Conditions:
        return dataclasses.replace(self, **changes)

    def select(self, index) -> Conditions:
        return Conditions(*(f[index] for f in self._fields()))

    def to(self, device) -> Conditions:
        return Conditions(*(f.to(device) for f in self._fields()))

    def _fields(self):
        return (self.pitch, self.velocity, self.family, self.source, self.clap, self.has_clap, self.reference,
                self.reference_pitch, self.has_reference)


class ConditionDropout(nn.Module):
    """Replaces each condition of each example by its null with probability p (training only).

    Takes its own generator so that a training run is reproducible from its seed.
    """

    def __init__(self, p: float, seed: int = 0):
        super().__init__()
        self.p = p
        self.generator = torch.Generator().manual_seed(seed)

    def forward(self, c: Conditions) -> Conditions:
        if not self.training or self.p == 0:
            return c
        B = c.batch_size
        drop = (torch.rand(6, B, generator=self.generator) < self.p).to(c.pitch.device)  # [6, B]

        def cut(x, d):
            return torch.where(d, torch.full_like(x, NULL), x)

        return Conditions(cut(c.pitch, drop[0]), cut(c.velocity, drop[1]), cut(c.family, drop[2]),
                          cut(c.source, drop[3]), c.clap, c.has_clap & ~drop[4], c.reference,
                          c.reference_pitch, c.has_reference & ~drop[5])


class ConditionEncoder(nn.Module):
    """Conditions -> 5 tokens [B, 5, D]: pitch, velocity, family, source, CLAP.

    Each categorical table has one extra row, index 0, for NULL; CLAP goes
    through a learned projection and has its own learned null vector.
    """

    num_tokens = 5

    def __init__(self, dim: int, clap_dim: int = CLAP_DIM):
        super().__init__()
        self.pitch = nn.Embedding(NUM_PITCHES + 1, dim)
        self.velocity = nn.Embedding(len(VELOCITY_LAYERS) + 1, dim)
        self.family = nn.Embedding(len(FAMILIES) + 1, dim)
        self.source = nn.Embedding(len(SOURCES) + 1, dim)
        self.clap = nn.Linear(clap_dim, dim)
        self.clap_null = nn.Parameter(torch.zeros(dim))

    def forward(self, c: Conditions) -> torch.Tensor:
        clap = torch.where(c.has_clap[:, None], self.clap(c.clap), self.clap_null)  # [B, D]
        tokens = [self.pitch(c.pitch + 1), self.velocity(c.velocity + 1), self.family(c.family + 1),
                  self.source(c.source + 1), clap]
        return torch.stack(tokens, dim=1)  # [B, 5, D]
