"""The offline session behind benchmarks/prefetch.py: the real engine, cache, scheduler and loop on an exact clock."""

import math
from dataclasses import replace
from pathlib import Path

import pytest

from livesampler.config import PrefetchConfig
from livesampler.gen.simulate import play_offline
from livesampler.gen.spec import InstrumentSpec

from .doubles import ToneModel

pytestmark = pytest.mark.slow

PIECE = Path(__file__).resolve().parents[2] / "benchmarks" / "pieces" / "bach_chorale_bwv253.mid"


@pytest.fixture(scope="module")
def sessions():
    spec = InstrumentSpec.make("simulated tone")
    return {(policy, rate): play_offline(PIECE, ToneModel(), rate, replace(PrefetchConfig(), policy=policy), spec)
            for policy in ("prefetch", "on_demand") for rate in (2.0, 10.0)}


def test_every_note_sounds_once_the_first_sample_exists(sessions):
    for figures in sessions.values():
        assert figures.sounded_after_first_sample == 1.0
        assert figures.own_sample + figures.borrowed == pytest.approx(figures.sounded_at_once)
        assert figures.first_sample_seconds <= 0.6  # the first key pressed, made at once


def test_prefetch_plays_more_own_samples_than_making_only_pressed_keys(sessions):
    assert sessions["prefetch", 10.0].own_sample > sessions["on_demand", 10.0].own_sample + 0.03
    # At 2 notes a second a chorale of 164 notes is over before much can be made ahead:
    # prefetch may lose a note of its own, but borrows from nearer keys.
    slow_prefetch, slow_on_demand = sessions["prefetch", 2.0], sessions["on_demand", 2.0]
    assert slow_prefetch.own_sample >= slow_on_demand.own_sample - 1 / 164
    assert slow_prefetch.mean_borrow_semitones < slow_on_demand.mean_borrow_semitones - 1
    assert sessions["prefetch", 10.0].own_sample > sessions["prefetch", 2.0].own_sample


def test_fill_takes_the_whole_keyboard_at_the_generator_speed(sessions):
    assert sessions["prefetch", 10.0].fill_seconds == pytest.approx(44.0, abs=0.5)  # 440 notes at 10 a second
    assert math.isnan(sessions["on_demand", 10.0].fill_seconds)  # only what is pressed
