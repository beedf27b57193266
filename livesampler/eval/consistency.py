"""Timbral consistency of one instrument, from the CLAP audio embeddings of its notes.

An instrument is consistent when its notes sound like one instrument: their
embeddings stay close together whatever the key. The paper builds its measure
from the spread (covariance) of those embeddings; two measures are given here,
both oriented so that higher means more consistent, both computed on unit-length
embeddings ``e_1 .. e_n`` (rows of ``E``, ``n`` notes, ``d`` = 512 dimensions):

**Mean pairwise cosine**, ``C = 2 / (n (n - 1)) * sum_{i<j} e_i . e_j``, in [-1, 1].
It reads directly, but it only sees how far the notes are from their centre:
for unit vectors the trace of the (1/n) covariance is exactly ``(n-1)/n * (1 - C)``,
so a score built from the trace alone (``-log tr S``) would rank instruments
exactly as C does and add nothing.

**Covariance score**, ``V = -(1/d) * log det S_lw`` where ``S_lw`` is the
Ledoit-Wolf shrinkage of the sample covariance ``S`` (1/n, centred):
``S_lw = (1 - a) S + a mu I`` with ``mu = tr S / d`` and the shrinkage ``a`` in
[0, 1] from Ledoit and Wolf's closed form (2004): ``a = min(b2, d2) / d2`` with
``d2 = ||S - mu I||_F^2 / d`` and ``b2 = (sum_k ||x_k||^4 / n - ||S||_F^2) / (n d)``
(``x_k`` the centred rows). V is minus the mean log variance per dimension.
Why this form: an instrument gives a few dozen notes in 512 dimensions, so
``S`` has rank at most n - 1 and its own log-determinant is minus infinity; the
shrinkage makes it finite with an intensity estimated from the notes, not
chosen by hand. Unlike the trace, the log-determinant also sees the *shape* of
the spread: ``V = -log mu - mean_i log((1 - a) lambda_i / mu + a)``, and the
second term, zero for a spread that is the same in every direction, grows when
the spread lies along few directions. A real instrument's timbre drifts
smoothly along the keyboard (a few directions); notes of unrelated timbres
scatter in many. On rendered soundfont notes V separated real instruments from
their shuffled mixes at least as often as C did. V depends on n, so compare instruments
at the same keys (the evaluation always does). A floor of ``1e-12`` on every
variance keeps V finite for notes whose embeddings are all identical.

**Calibration**: ``shuffled_mixes`` builds, for each real instrument, a mix with
the same (pitch, velocity) list whose notes are drawn from other instruments.
A measure that means something scores every real instrument above its mix.
"""

from __future__ import annotations

import numpy as np

VARIANCE_FLOOR = 1e-12
Key = tuple[int, int]  # (pitch, velocity)


def unit_rows(embeddings) -> np.ndarray:
    E = np.asarray(embeddings, dtype=np.float64)
    norms = np.linalg.norm(E, axis=1, keepdims=True)
    return E / np.maximum(norms, 1e-12)


def mean_cosine(embeddings) -> float:
    """Mean cosine similarity over all pairs of notes (needs at least two)."""
    E = unit_rows(embeddings)
    n = len(E)
    if n < 2:
        raise ValueError("consistency needs at least two notes")
    total = E.sum(axis=0)
    return float((total @ total - n) / (n * (n - 1)))  # sum over i != j of e_i . e_j, without the n x n matrix


def shrunk_spectrum(embeddings) -> tuple[np.ndarray, float, float]:
    """-> (eigenvalues of S, all d of them; mu; Ledoit-Wolf shrinkage a), for the unit rows."""
    E = unit_rows(embeddings)
    n, d = E.shape
    X = E - E.mean(axis=0)
    if n <= d:
        # S's non-zero eigenvalues are those of the n x n Gram matrix: 512 x 512 is not needed
        eig = np.linalg.eigvalsh(X @ X.T / n)
        eig = np.concatenate([np.clip(eig, 0, None), np.zeros(d - n)])
    else:
        eig = np.clip(np.linalg.eigvalsh(X.T @ X / n), 0, None)
    mu = float(eig.sum() / d)
    frob2 = float((eig ** 2).sum())  # ||S||_F^2
    d2 = (frob2 - d * mu ** 2) / d
    b2 = (float(((X ** 2).sum(axis=1) ** 2).sum()) / n - frob2) / (n * d)
    a = min(max(b2, 0.0), d2) / d2 if d2 > 0 else 1.0
    return eig, mu, a


def covariance_score(embeddings) -> float:
    """V = -(1/d) log det of the Ledoit-Wolf covariance (see the module's text); higher = more consistent."""
    if len(embeddings) < 2:
        raise ValueError("consistency needs at least two notes")
    eig, mu, a = shrunk_spectrum(embeddings)
    return float(-np.mean(np.log((1 - a) * eig + a * mu + VARIANCE_FLOOR)))


MEASURES = {"cosine": mean_cosine, "covariance": covariance_score}


def instrument_scores(by_instrument: dict[str, np.ndarray]) -> dict:
    """Both measures for each instrument with at least two notes, and their means.

    -> ``{"cosine": {"mean": m, "per_instrument": {name: value}}, "covariance": {...},
    "notes": {name: count}}``
    """
    kept = {name: E for name, E in by_instrument.items() if len(E) >= 2}
    result = {}
    for measure, score in MEASURES.items():
        values = {name: score(E) for name, E in kept.items()}
        result[measure] = {"mean": float(np.mean(list(values.values()))) if values else None,
                           "per_instrument": values}
    result["notes"] = {name: len(E) for name, E in kept.items()}
    return result


def shuffled_mixes(keys: dict[str, list[Key]], pool: list[tuple[str, Key]], seed: int) -> dict[str, list[int]]:
    """For each instrument, a mix of notes of *other* instruments with its (pitch, velocity) list.

    ``keys``: each instrument's keys; ``pool``: (instrument, key) of every note
    the mixes may draw from. Returns indices into ``pool``. A key no other
    instrument has is left out of that mix; a mix of fewer than two notes is
    left out.
    """
    rng = np.random.default_rng(seed)
    by_key: dict[Key, list[int]] = {}
    for i, (_, key) in enumerate(pool):
        by_key.setdefault(tuple(key), []).append(i)
    mixes = {}
    for name in sorted(keys):
        mix = []
        for key in keys[name]:
            others = [i for i in by_key.get(tuple(key), []) if pool[i][0] != name]
            if others:
                mix.append(others[int(rng.integers(len(others)))])
        if len(mix) >= 2:
            mixes[name] = mix
    return mixes


def real_above_mixes(real: dict, mixed: dict) -> dict:
    """How many instruments score above their own mix, per measure: ``{"cosine": k, ..., "instruments": n}``."""
    names = [n for n in real["cosine"]["per_instrument"] if n in mixed["cosine"]["per_instrument"]]
    above = {measure: sum(real[measure]["per_instrument"][n] > mixed[measure]["per_instrument"][n] for n in names)
             for measure in MEASURES}
    return {**above, "instruments": len(names)}
