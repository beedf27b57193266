"""CLAP score: raw agreement and retrieval ranks on constructed embeddings."""

import numpy as np
import pytest

from livesampler.eval.clap_score import agreement, clap_score, retrieval_ranks


def basis(i: int, d: int = 8) -> np.ndarray:
    v = np.zeros(d)
    v[i] = 1.0
    return v


def test_agreement_is_the_mean_cosine_to_the_notes():
    notes = np.stack([basis(0), basis(0) + basis(1), 2 * basis(1)])
    assert agreement(basis(0), notes) == pytest.approx((1 + 2 ** -0.5 + 0) / 3)


def test_each_prompt_finds_its_own_instrument():
    prompts = np.stack([basis(i) for i in range(4)])
    instruments = [np.stack([basis(i) + 0.1 * basis(j) for j in range(4, 7)]) for i in range(4)]
    assert retrieval_ranks(prompts, instruments).tolist() == [1, 1, 1, 1]
    score = clap_score(["a", "b", "c", "d"], prompts, instruments)
    r = score["retrieval"]
    assert (r["mean_rank"], r["recall_at_1"], r["chance_mean_rank"], r["chance_recall_at_1"]) == (1, 1, 2.5, 0.25)
    assert score["mean_cosine"] == pytest.approx(1 / np.sqrt(1.01))


def test_ranks_count_the_instruments_closer_to_the_prompt():
    # prompt 0 is nearest instrument 2, then instrument 0; prompt 1 nearest its own; prompt 2 nearest instrument 1
    prompts = np.stack([basis(0), basis(1), basis(2)])
    instruments = [np.stack([basis(0) + basis(3)]), np.stack([basis(1) + 0.5 * basis(2)]),
                   np.stack([basis(0) + 0.2 * basis(2)])]
    assert retrieval_ranks(prompts, instruments).tolist() == [2, 1, 2]
    score = clap_score(["x", "y", "z"], prompts, instruments)
    assert score["retrieval"]["ranks"] == {"x": 2, "y": 1, "z": 2}
    assert score["retrieval"]["recall_at_1"] == pytest.approx(1 / 3)


def test_identical_instruments_do_not_look_perfect():
    prompts = np.stack([basis(0), basis(1), basis(2)])
    same = [np.stack([np.ones(8)])] * 3
    assert retrieval_ranks(prompts, same).tolist() == [3, 3, 3]  # ties count against the prompt
    with pytest.raises(ValueError):
        retrieval_ranks(prompts, same[:2])
