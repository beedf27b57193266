"""The independent measures of benchmarks/quality.py, on notes whose answers are known."""

import numpy as np
import pytest

from livesampler.eval import timbre

SR = 16000


def tone(pitch: float, seconds: float = 4.0, harmonics=(1.0, 0.5, 0.25), decay: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    f = 440 * 2 ** ((pitch - 69) / 12)
    wave = sum(a * np.sin(2 * np.pi * f * (h + 1) * t) for h, a in enumerate(harmonics))
    return (0.3 * wave * np.exp(-decay * t)).astype(np.float32)


@pytest.mark.slow
def test_in_tune_follows_the_fundamental_not_the_key_asked_for():
    assert timbre.in_tune(tone(60), 60)
    assert not timbre.in_tune(tone(61), 60)  # 100 cents sharp
    assert abs(timbre.cents_off(tone(60.3), 60) - 30) < 15
    assert timbre.cents_off(np.zeros(4 * SR, dtype=np.float32), 60) is None  # nothing periodic


def test_flux_and_bursts_tell_a_steady_note_from_a_jittery_one():
    steady = tone(57)
    rng = np.random.default_rng(0)
    gains = np.repeat(np.exp(rng.normal(0, 0.6, 4 * SR // 320)), 320).astype(np.float32)
    jittery = steady * gains
    burst = steady.copy()
    for start in (0.5, 1.2, 2.0):
        i = int(start * SR)
        burst[i:i + 800] += rng.normal(0, 0.5, 800).astype(np.float32)
    assert timbre.flux(jittery) > 3 * timbre.flux(steady)
    assert timbre.bursts(steady) == 0
    assert timbre.bursts(burst) >= 3


def test_profiles_rank_each_instrument_first_against_its_own_notes():
    shapes = [(1.0,), (1.0, 0.8, 0.6, 0.5, 0.4), (1.0, 0.0, 0.6, 0.0, 0.4), (0.2, 1.0, 0.1)]
    decays = [0.3, 2.0, 0.8, 5.0]
    real = np.stack([np.mean([timbre.profile(tone(p, harmonics=h, decay=d)) for p in (55, 60)], axis=0)
                     for h, d in zip(shapes, decays)])
    other = np.stack([timbre.profile(tone(57, harmonics=h, decay=d)) for h, d in zip(shapes, decays)])
    z = timbre.zscore(np.concatenate([real, other]))
    ranks = timbre.rank_instruments(z[4:], z[:4])
    assert list(ranks) == [0, 0, 0, 0]
    assert list(timbre.rank_instruments(z[4:][::-1], z[:4])) != [0, 0, 0, 0]
    levels = timbre.rms_db(tone(60, decay=2.0))
    assert levels[0] > levels[2] > levels[4]  # the envelope falls as the note decays
