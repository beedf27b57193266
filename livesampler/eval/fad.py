"""Fréchet audio distance between generated notes and real held-out notes.

Each set of note embeddings is fitted with a Gaussian (mean ``m``, covariance
``S``, 1/(n-1)), and the distance between the two Gaussians is

    FAD = ||m_1 - m_2||^2 + tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2))

0 for identical sets, growing with any shift or change of spread. The trace of
the matrix square root is computed without ``sqrtm`` of the product (which
turns complex when the covariances are singular, as they are for fewer notes
than dimensions). With ``S = R^T R`` (``R`` the centred rows over sqrt(n-1)),
the non-zero eigenvalues of ``S_1 S_2`` are the squared singular values of
``R_1 R_2^T``, so ``tr (S_1 S_2)^(1/2)`` is that n_1 x n_2 matrix's nuclear norm:
exact, and far cheaper than 512 x 512 decompositions when a set has fewer notes
than dimensions. When both sets are larger than that, it is the sum of the
square roots of the eigenvalues of ``S_1^(1/2) S_2 S_1^(1/2)`` instead.

A FAD from a few hundred notes in 512 dimensions is biased upwards by the
sample size, so numbers are comparable only between sets of the same size:
the evaluation compares generated and real notes of the same instruments at
the same keys against one reference. The reference is every real note of the
held-out split at those keys; its embeddings are cached next to the note set
(``embeddings.py``), so a second run only fits the Gaussian again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Gaussian:
    mean: np.ndarray  # [d]
    rows: np.ndarray  # [n, d], centred and divided by sqrt(n - 1): the covariance is rows^T rows

    @classmethod
    def fit(cls, embeddings) -> Gaussian:
        E = np.asarray(embeddings, dtype=np.float64)
        if len(E) < 2:
            raise ValueError("a Gaussian needs at least two embeddings")
        mean = E.mean(axis=0)
        return cls(mean, (E - mean) / np.sqrt(len(E) - 1))

    @property
    def count(self) -> int:
        return len(self.rows)

    @property
    def cov(self) -> np.ndarray:
        return self.rows.T @ self.rows


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def _trace_sqrt_product(a: Gaussian, b: Gaussian) -> float:
    """tr (S_a S_b)^(1/2), by whichever way is cheaper (see the module's text)."""
    if min(a.count, b.count) <= a.rows.shape[1]:
        return float(np.linalg.svd(a.rows @ b.rows.T, compute_uv=False).sum())
    root_a = _sqrt_psd(a.cov)
    return float(np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ b.cov @ root_a), 0, None)).sum())


def frechet_distance(a: Gaussian, b: Gaussian) -> float:
    shift = a.mean - b.mean
    spread = float((a.rows ** 2).sum() + (b.rows ** 2).sum())  # tr S_a + tr S_b
    return float(max(shift @ shift + spread - 2 * _trace_sqrt_product(a, b), 0.0))


def fad(embeddings, reference: Gaussian) -> float:
    return frechet_distance(Gaussian.fit(embeddings), reference)
