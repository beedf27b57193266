"""Timbral consistency: both measures on constructed embeddings, shuffled mixes, the calibration on real notes."""

from pathlib import Path

import numpy as np
import pytest

from livesampler.eval.consistency import (covariance_score, instrument_scores, mean_cosine, real_above_mixes,
                                          shrunk_spectrum, shuffled_mixes, unit_rows)

REPO = Path(__file__).resolve().parents[2]


def cluster(spread: float, n: int = 19, d: int = 512, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centre = rng.standard_normal(d)
    return unit_rows(centre / np.linalg.norm(centre) + spread * rng.standard_normal((n, d)) / np.sqrt(d))


def test_a_tight_cluster_is_more_consistent_than_a_spread_one():
    tight, loose = cluster(0.2), cluster(1.0)
    assert mean_cosine(tight) > mean_cosine(loose)
    assert covariance_score(tight) > covariance_score(loose)
    assert mean_cosine(tight) > 0.9 and mean_cosine(loose) < 0.6


def test_mean_cosine_is_the_mean_over_pairs():
    E = cluster(0.7, n=6, d=8)
    pairs = [E[i] @ E[j] for i in range(6) for j in range(i + 1, 6)]
    assert mean_cosine(E) == pytest.approx(np.mean(pairs))
    assert mean_cosine(3 * E) == pytest.approx(np.mean(pairs))  # lengths do not count
    with pytest.raises(ValueError):
        mean_cosine(E[:1])


def test_covariance_score_is_the_ledoit_wolf_log_determinant():
    """Against the formula of the module's text, written out on the d x d matrix, for few and for many notes."""
    for n, d in ((7, 16), (40, 16)):
        E = cluster(0.8, n=n, d=d, seed=n)
        X = E - E.mean(axis=0)
        S = X.T @ X / n
        mu = np.trace(S) / d
        d2 = np.sum((S - mu * np.eye(d)) ** 2) / d
        b2 = sum(np.sum((np.outer(x, x) - S) ** 2) for x in X) / n ** 2 / d
        a = min(b2, d2) / d2
        expected = -np.linalg.slogdet((1 - a) * S + a * mu * np.eye(d))[1] / d
        assert shrunk_spectrum(E)[2] == pytest.approx(a)
        assert covariance_score(E) == pytest.approx(expected, rel=1e-9)


def test_spread_along_one_direction_scores_higher_than_the_same_spread_in_many():
    """The covariance score sees the shape of the spread; the mean cosine sees only its size."""
    rng = np.random.default_rng(1)
    d, n = 64, 20
    centre = np.zeros(d)
    centre[0] = 1.0
    along = np.zeros((n, d))
    along[:, 1] = rng.standard_normal(n)
    scattered = rng.standard_normal((n, d))
    along *= np.linalg.norm(scattered) / np.linalg.norm(along)
    line, cloud = unit_rows(centre + 0.02 * along), unit_rows(centre + 0.02 * scattered)
    assert mean_cosine(line) == pytest.approx(mean_cosine(cloud), abs=2e-3)
    assert covariance_score(line) > covariance_score(cloud) + 0.5


def test_identical_notes_score_finite():
    E = np.tile(cluster(0.0, n=1), (5, 1))
    assert mean_cosine(E) == pytest.approx(1.0)
    assert np.isfinite(covariance_score(E)) and covariance_score(E) > covariance_score(cluster(0.1, n=5))


def test_instrument_scores_leave_out_single_notes():
    scores = instrument_scores({"a": cluster(0.2, n=4), "b": cluster(0.9, n=4, seed=1), "c": cluster(0.1, n=1)})
    assert set(scores["cosine"]["per_instrument"]) == {"a", "b"} and scores["notes"] == {"a": 4, "b": 4}
    assert scores["cosine"]["mean"] == pytest.approx(np.mean(list(scores["cosine"]["per_instrument"].values())))


def test_mixes_keep_the_keys_and_draw_from_other_instruments():
    keys = {"a": [(48, 100), (60, 100), (72, 100)], "b": [(48, 100), (60, 100)], "c": [(96, 100), (60, 100)]}
    pool = [(name, key) for name, ks in keys.items() for key in ks] + [("d", (48, 100)), ("d", (72, 100))]
    mixes = shuffled_mixes(keys, pool, seed=0)
    assert set(mixes) == {"a", "b"}  # c's pitch 96 is nobody else's: one note left is no mix
    for name, mix in mixes.items():
        assert [pool[i][1] for i in mix] == keys[name][:len(mix)]
        assert all(pool[i][0] != name for i in mix)
    assert shuffled_mixes(keys, pool, seed=0) == mixes
    assert any(shuffled_mixes(keys, pool, seed=s) != mixes for s in range(1, 10))


def test_real_above_mixes_counts_per_measure():
    real = instrument_scores({"a": cluster(0.1, n=5), "b": cluster(0.5, n=5, seed=2)})
    mixed = instrument_scores({"a": cluster(0.9, n=5, seed=3), "b": cluster(0.2, n=5, seed=4)})
    assert real_above_mixes(real, mixed) == {"cosine": 1, "covariance": 1, "instruments": 2}


# Twelve TimGM6mb programs of different families: piano, xylophone, church organ, nylon guitar, finger bass,
# violin, choir, trumpet, alto sax, flute, saw lead, warm pad.
CALIBRATION_PROGRAMS = (0, 13, 19, 24, 33, 40, 52, 56, 65, 73, 81, 89)


@pytest.mark.slow
def test_real_instruments_are_more_consistent_than_shuffled_mixes(timgm_sf2, tmp_path):
    """The calibration: with the trained pocket CLAP, every real instrument beats its mixes on both measures."""
    clap_folder = REPO / "models" / "pocket_clap"
    if not clap_folder.is_dir():
        pytest.skip(f"{clap_folder.relative_to(REPO)} is missing: the calibration needs the trained pocket CLAP, "
                    "whose audio embeddings mean something")
    from livesampler.data.nsynth import read_dataset
    from livesampler.data.render import render_soundfont
    from livesampler.eval.embeddings import NoteEmbeddings
    from livesampler.model.clap import load_clap

    render_soundfont(timgm_sf2, tmp_path, programs=CALIBRATION_PROGRAMS, pitches=range(36, 85, 4), velocities=[100])
    notes = [n for split in read_dataset(tmp_path).values() for n in split]
    vectors = NoteEmbeddings(load_clap("pocket", clap_folder), None)(notes)
    rows: dict[str, list[int]] = {}
    for i, n in enumerate(notes):
        rows.setdefault(n.instrument_str, []).append(i)
    assert len(rows) == len(CALIBRATION_PROGRAMS)
    real = instrument_scores({name: vectors[r] for name, r in rows.items()})
    keys = {name: [(notes[i].pitch, notes[i].velocity) for i in r] for name, r in rows.items()}
    pool = [(n.instrument_str, (n.pitch, n.velocity)) for n in notes]
    for seed in range(3):
        mixes = shuffled_mixes(keys, pool, seed)
        mixed = instrument_scores({name: vectors[mix] for name, mix in mixes.items()})
        above = real_above_mixes(real, mixed)
        assert above == {"cosine": len(rows), "covariance": len(rows), "instruments": len(rows)}, (seed, real, mixed)
