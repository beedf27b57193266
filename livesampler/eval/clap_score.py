"""Does an instrument match its prompt? The CLAP score, raw and as a retrieval rank.

**Raw agreement** (the paper's averaged CLAP score): for prompt ``p`` with
embedding ``t_p`` (a text embedding, or the audio embedding of a reference note)
and the unit audio embeddings ``a_p1 .. a_pn`` of the notes of the instrument
made from it, ``s_p = mean_i cos(t_p, a_pi)``; reported per prompt and averaged.

A raw cosine is hard to read: its range depends on the CLAP model (text and
audio embeddings of one model may never come closer than 0.3, of another never
further than 0.5), so it cannot be compared across the CLAP backends. Hence
**retrieval**: each instrument is summarised by the unit mean of its notes'
embeddings ``m_j``, and for each prompt ``p`` its own instrument is ranked among
all ``P`` instruments of the run by ``cos(t_p, m_j)``: rank 1 means no other
instrument is closer to the prompt. Ties count against the prompt (rank =
1 + the number of other instruments at least as close), so identical
instruments do not look perfect. Reported: each rank, the mean rank, recall@1
(the share of prompts ranked first), and their chance levels for ``P``
instruments, ``(P + 1) / 2`` and ``1 / P``.
"""

from __future__ import annotations

import numpy as np

from livesampler.eval.consistency import unit_rows


def agreement(prompt: np.ndarray, notes: np.ndarray) -> float:
    """Mean cosine between one prompt embedding [d] and an instrument's note embeddings [n, d]."""
    return float(np.mean(unit_rows(notes) @ unit_rows(prompt[None])[0]))


def retrieval_ranks(prompts: np.ndarray, instruments: list[np.ndarray]) -> np.ndarray:
    """Rank (1 = best) of instrument p among all instruments for prompt p; prompts [P, d], one [n_j, d] each."""
    if len(prompts) != len(instruments):
        raise ValueError(f"{len(prompts)} prompts but {len(instruments)} instruments")
    means = unit_rows(np.stack([unit_rows(E).mean(axis=0) for E in instruments]))
    similarity = unit_rows(prompts) @ means.T  # [P, P]
    own = np.diag(similarity)
    at_least_as_close = (similarity >= own[:, None]).sum(axis=1) - 1  # minus the instrument itself
    return 1 + at_least_as_close


def clap_score(names: list[str], prompts: np.ndarray, instruments: list[np.ndarray]) -> dict:
    """Agreement and retrieval for P prompts and the instruments made from them, in the same order."""
    per_prompt = {name: agreement(p, E) for name, p, E in zip(names, prompts, instruments)}
    ranks = retrieval_ranks(prompts, instruments)
    count = len(names)
    return {
        "mean_cosine": float(np.mean(list(per_prompt.values()))),
        "per_prompt": per_prompt,
        "retrieval": {
            "instruments": count,
            "mean_rank": float(ranks.mean()),
            "recall_at_1": float(np.mean(ranks == 1)),
            "chance_mean_rank": (count + 1) / 2,
            "chance_recall_at_1": 1 / count,
            "ranks": {name: int(r) for name, r in zip(names, ranks)},
        },
    }
