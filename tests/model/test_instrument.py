import numpy as np
import pytest
import torch

from livesampler.config import ModelConfig
from livesampler.model import ModelError
from livesampler.model.checkpoint import CheckpointError, save_lm
from livesampler.model.clap import PocketClap, PocketClapConfig
from livesampler.model.codec import DacCodec
from livesampler.model.instrument import NoteGenerator
from livesampler.model.lm import LanguageModel
from livesampler.model.sampling import SamplerSettings

from .conftest import fake_text_encoder, tiny_lm_config


@pytest.fixture
def model_files(tmp_path, tiny_dac_file):
    """A codec, a pocket CLAP and an LM checkpoint that records both: what config.toml points at."""
    torch.manual_seed(0)
    codec = DacCodec.load(tiny_dac_file)
    clap = PocketClap(PocketClapConfig(n_mels=32, channels=(8, 16)), fake_text_encoder)
    clap.save(tmp_path / "clap")
    lm = LanguageModel(tiny_lm_config(num_codebooks=4, codebook_size=1024))
    save_lm(tmp_path / "lm", lm, codec.id, clap.id)
    return ModelConfig(codec="dac", codec_weights=str(tiny_dac_file), clap="pocket", clap_path=str(tmp_path / "clap"),
                       lm_checkpoint=str(tmp_path / "lm"), device="cpu", top_k=20, max_batch=3, note_seconds=0.3)


def test_generate_a_keyboard_from_an_audio_prompt(model_files):
    generator = NoteGenerator.from_config(model_files)
    assert generator.sample_rate == 16000
    embedding = generator.embed_audio(0.1 * np.random.default_rng(0).standard_normal((8000, 2)), 22050)
    assert embedding.shape == (512,) and embedding.dtype == np.float32
    assert abs(np.linalg.norm(embedding) - 1) < 1e-5
    pitches, velocities = [21, 60, 60, 108, 72], [127, 25, 100, 64, 1]
    notes = generator.generate(embedding, pitches, velocities, seed=3)
    assert len(notes) == 5
    assert all(n.shape == (round(0.3 * 16000),) and n.dtype == np.float32 for n in notes)
    again = generator.generate(embedding, pitches, velocities, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(notes, again))
    greedy = generator.generate(embedding, [60], [100], settings=SamplerSettings(top_k=1, guidance_scale=1.0))
    assert greedy[0].shape == (4800,)


def test_text_prompt(model_files, monkeypatch):
    generator = NoteGenerator.from_config(model_files)
    generator.clap.text_encoder = fake_text_encoder  # MiniLM itself is tested in test_clap
    embedding = generator.embed_text("warm analog pad")
    assert embedding.shape == (512,) and abs(np.linalg.norm(embedding) - 1) < 1e-5


def test_checkpoint_for_another_clap_is_refused(model_files, tmp_path):
    other = PocketClap(PocketClapConfig(n_mels=32, channels=(8, 16)), fake_text_encoder)
    torch.nn.init.zeros_(other.audio_projection.weight)
    other.save(tmp_path / "other_clap")
    cfg = ModelConfig(**{**model_files.__dict__, "clap_path": str(tmp_path / "other_clap")})
    with pytest.raises(CheckpointError, match="trained with CLAP 'pocket-clap-.*' but the configured CLAP is"):
        NoteGenerator.from_config(cfg)


def test_lm_for_another_codebook_count_is_refused(tiny_dac_file):
    codec = DacCodec.load(tiny_dac_file)
    lm = LanguageModel(tiny_lm_config(num_codebooks=4, codebook_size=16))
    with pytest.raises(ModelError, match="codebooks of 16, the codec has 4 of 1024"):
        NoteGenerator(codec, PocketClap(PocketClapConfig(n_mels=32, channels=(8,)), fake_text_encoder), lm)


def test_mismatched_request(model_files):
    generator = NoteGenerator.from_config(model_files)
    with pytest.raises(ModelError, match="2 pitches but 1 velocities"):
        generator.generate(np.zeros(512, np.float32), [60, 61], [100])
