"""The pocket models that ship in models/ and that config.toml points at: they load together and make notes."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from livesampler.config import load_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def generator():
    from livesampler.model.instrument import NoteGenerator

    config = load_config(ROOT / "config.toml")
    return NoteGenerator.from_config(replace(config.model, device="cpu"), config.path)


@pytest.mark.slow
def test_shipped_models_make_pitched_notes_from_text_and_audio(generator):
    from livesampler.eval.pitch import analyse

    piano = generator.embed_text("grand piano")
    assert piano.shape == (512,) and abs(np.linalg.norm(piano) - 1) < 1e-4
    pitches = [45, 69]
    first = generator.prompt_reference(piano, seed=1)  # a text prompt's first note, which every key copies
    notes = generator.generate(piano, pitches, [100, 100], seed=1, reference=first)
    rate = generator.sample_rate
    for pitch, note in zip(pitches, notes):
        assert note.shape == (round(generator.note_seconds * rate),) and np.isfinite(note).all()
        peak = float(np.abs(note).max())
        assert 1e-3 < peak <= 1.0, peak
        found = analyse(note, rate, pitch)
        assert found.cents is not None and abs(found.cents) < 50, found
    # an audio prompt: the note just made stands for an instrument of its own
    again = generator.embed_audio(notes[1], rate)
    assert float(again @ piano) < 0.999 and again.shape == (512,)
    sound = generator.prompt_reference(again, seed=1, audio=notes[1], sample_rate=rate)
    assert sound is None or sound.pitch == 69  # the reference's pitch is found from its audio
    assert generator.generate(again, [60], [75], seed=1, reference=sound)[0].std() > 1e-4
