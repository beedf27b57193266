"""Pitch accuracy on synthetic tones: right pitch, detuned, octave errors, noise counted unpitched."""

import numpy as np
import pytest

from livesampler.eval.pitch import NotePitch, analyse, summarise

from .conftest import tone


@pytest.mark.parametrize("pitch", [24, 45, 60, 84, 105])
def test_a_tone_at_the_asked_pitch_is_right(pitch):
    result = analyse(tone(pitch), 16000, pitch)
    assert result.right and not result.octave_error and abs(result.cents) < 15 and result.voiced > 0.9


def test_detuned_octave_and_resampled_tones():
    assert analyse(tone(60.3), 16000, 60).right  # 30 cents sharp
    sharp = analyse(tone(60.8), 16000, 60)
    assert not sharp.right and not sharp.octave_error and sharp.cents == pytest.approx(80, abs=15)
    up, down = analyse(tone(72), 16000, 60), analyse(tone(48), 16000, 60)
    assert up.octave_error and down.octave_error and not up.right
    assert up.cents == pytest.approx(1200, abs=15) and down.cents == pytest.approx(-1200, abs=15)
    assert analyse(tone(69, rate=44100), 44100, 69).right  # a codec's rate is resampled


def test_noise_and_silence_have_no_pitch():
    noise = 0.2 * np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    for audio in (noise, np.zeros(16000, dtype=np.float32)):
        result = analyse(audio, 16000, 60)
        assert result.unvoiced and not result.right and not result.octave_error and result.cents is None


def test_a_note_shorter_than_the_analysis_window_still_counts():
    assert analyse(tone(40, seconds=0.3), 16000, 40).right


def test_summary_reports_unpitched_families_apart():
    right, octave, unvoiced = NotePitch(60, 261.63, 1.0), NotePitch(60, 523.25, 1.0), NotePitch(72, None, 0.0)
    results = [right, right, octave, unvoiced, unvoiced, unvoiced, right]
    families = ["keyboard", "keyboard", "keyboard", "keyboard", "mallet", "mallet", "mallet"]
    names = ["piano", "piano", "piano", "piano", "bell", "bell", "bell"]
    s = summarise(results, families, names)
    assert s["unpitched_families"] == ["mallet"]  # two of its three notes are unvoiced
    assert (s["notes"], s["within_50_cents"], s["octave_errors"], s["unvoiced"]) == (4, 0.5, 0.25, 0.25)
    assert s["median_abs_cents"] == pytest.approx(0, abs=0.1)
    assert s["unpitched"]["notes"] == 3 and s["unpitched"]["within_50_cents"] == pytest.approx(1 / 3)
    assert s["families"]["mallet"]["pitched"] is False and s["families"]["keyboard"]["notes"] == 4
    assert s["per_key"]["60"]["notes"] == 3 and "72" in s["per_key"]  # pitched families' keys only
    assert s["per_instrument"] == {"piano": 0.5, "bell": pytest.approx(1 / 3)}

    # generated notes take the real notes' decision: a pitched family turned into noise is counted wrong
    generated = summarise([unvoiced] * 4 + [right] * 3, families, names, unpitched={"mallet"})
    assert generated["within_50_cents"] == 0 and generated["unvoiced"] == 1
    assert generated["unpitched_families"] == ["mallet"]
