"""The MusicGen delay pattern: codebook k is shifted right by delays[k] steps.

With codebook k delayed by k steps, the model predicts codebook k of frame t
after it has seen codebooks 0..k-1 of the same frame, one step earlier, while
still predicting all K codebooks of a step in parallel. A sequence of T frames
becomes S = T + max(delays) pattern steps; the cells that hold no code (before
a codebook's delay and after its last frame) hold a special token.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from livesampler.model import ModelError


@dataclass(frozen=True)
class DelayPattern:
    delays: tuple[int, ...]  # delays[k]: steps codebook k is shifted by

    def __post_init__(self):
        if not self.delays:
            raise ModelError("a delay pattern needs at least one codebook")
        if any(d < 0 for d in self.delays):
            raise ModelError(f"delays must be >= 0, got {self.delays}")
        if self.delays[0] != 0:
            raise ModelError(f"the first codebook must not be delayed (its delay is the clock), got {self.delays}")

    @classmethod
    def musicgen(cls, num_codebooks: int) -> DelayPattern:
        """Codebook k delayed by k steps."""
        return cls(tuple(range(num_codebooks)))

    @classmethod
    def parallel(cls, num_codebooks: int) -> DelayPattern:
        """No delays: every codebook of a frame at the same step (MAGNeT)."""
        return cls((0,) * num_codebooks)

    @property
    def num_codebooks(self) -> int:
        return len(self.delays)

    @property
    def max_delay(self) -> int:
        return max(self.delays)

    def num_steps(self, num_frames: int) -> int:
        return num_frames + self.max_delay

    def num_frames(self, num_steps: int) -> int:
        if num_steps < self.max_delay:
            raise ModelError(f"{num_steps} steps are fewer than the pattern's largest delay {self.max_delay}")
        return num_steps - self.max_delay

    def valid_mask(self, num_frames: int, device=None) -> torch.Tensor:
        """[K, S] bool: True where the pattern holds a code, False where it holds the special token."""
        steps = torch.arange(self.num_steps(num_frames), device=device)
        delays = torch.tensor(self.delays, device=device)[:, None]
        return (steps >= delays) & (steps < delays + num_frames)

    def build(self, codes: torch.Tensor, special: int) -> torch.Tensor:
        """codes [B, K, T] -> pattern [B, K, S], special token in the empty cells."""
        B, K, T = codes.shape
        self._check_codebooks(K)
        out = codes.new_full((B, K, self.num_steps(T)), special)
        for k, d in enumerate(self.delays):
            out[:, k, d:d + T] = codes[:, k]
        return out

    def revert(self, pattern: torch.Tensor) -> torch.Tensor:
        """pattern [B, K, S] -> codes [B, K, T]; the inverse of ``build``."""
        B, K, S = pattern.shape
        self._check_codebooks(K)
        T = self.num_frames(S)
        return torch.stack([pattern[:, k, d:d + T] for k, d in enumerate(self.delays)], dim=1)

    def _check_codebooks(self, k: int):
        if k != self.num_codebooks:
            raise ModelError(f"the pattern has {self.num_codebooks} codebooks, the codes have {k}")
