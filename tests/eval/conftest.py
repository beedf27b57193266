"""Note sets and small models for the evaluation tests."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from livesampler.data.nsynth import FAMILIES, QUALITIES, SOURCES
from tests.model.conftest import fake_text_encoder

# The models here are tiny: one thread is as fast, and fair to a machine shared with other work.
torch.set_num_threads(1)

# TimGM6mb programs whose instruments fall in the test split (by the hash of their names):
# honky-tonk piano, xylophone, synth bass 1, bottle chiff, tremolo strings.
TEST_SPLIT_PROGRAMS = (3, 13, 38, 76, 44)
RATE = 16000


@pytest.fixture(scope="session")
def held_out_set(timgm_sf2, tmp_path_factory) -> Path:
    """A TimGM6mb render with five instruments in its test split, at pitches 48, 60, 72, velocity 100."""
    from livesampler.data.render import render_soundfont

    folder = tmp_path_factory.mktemp("held_out")
    render_soundfont(timgm_sf2, folder, programs=TEST_SPLIT_PROGRAMS, pitches=[48, 60, 72], velocities=[100])
    return folder


@pytest.fixture(scope="session")
def tiny_clap(tmp_path_factory) -> Path:
    """An untrained, small pocket CLAP model folder: right shapes, meaningless embeddings."""
    from livesampler.model.clap import PocketClap, PocketClapConfig

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("clap") / "clap"
    PocketClap(PocketClapConfig(n_mels=32, channels=(8, 16)), fake_text_encoder).save(folder)
    return folder


class FakeMiniLM:
    """Stands in for the pocket CLAP's MiniLM text encoder (which also loads offline, in seconds)."""

    def __init__(self, device="cpu"):
        pass

    def __call__(self, texts):
        return fake_text_encoder(texts)


@pytest.fixture
def fake_minilm(monkeypatch):
    monkeypatch.setattr("livesampler.model.clap.MiniLMText", FakeMiniLM)


def tone(pitch: float, seconds: float = 1.5, rate: int = RATE, harmonics: int = 6) -> np.ndarray:
    """A harmonic tone at MIDI ``pitch`` (fractional for detuning)."""
    f0 = 440.0 * 2 ** ((pitch - 69) / 12)
    t = np.arange(int(seconds * rate)) / rate
    wave = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, harmonics + 1) if f0 * k < rate / 2)
    return (0.3 * wave).astype(np.float32)


def write_note_set(folder: Path, notes: dict[str, np.ndarray], family: str = "keyboard") -> Path:
    """One NSynth split folder; ``notes``: note_str ("<instrument>-<pitch>-<velocity>") -> audio."""
    (folder / "audio").mkdir(parents=True, exist_ok=True)
    examples = {}
    for key, audio in notes.items():
        instrument, pitch, velocity = key.rsplit("-", 2)
        soundfile.write(folder / "audio" / f"{key}.wav", audio, RATE, subtype="PCM_16")
        examples[key] = {"note_str": key, "pitch": int(pitch), "velocity": int(velocity), "instrument": 0,
                         "instrument_str": instrument, "instrument_family": FAMILIES.index(family),
                         "instrument_family_str": family, "instrument_source": 0,
                         "instrument_source_str": SOURCES[0], "qualities": [0] * len(QUALITIES),
                         "qualities_str": [], "sample_rate": RATE}
    (folder / "examples.json").write_text(json.dumps(examples))
    return folder
