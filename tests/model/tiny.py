"""Tiny real model files, written the way training writes them: for tests of loading and of the live host."""

from __future__ import annotations

from pathlib import Path

import torch

from livesampler.model.lm import LMConfig


def tiny_lm_config(**overrides) -> LMConfig:
    fields = dict(num_codebooks=3, codebook_size=16, dim=32, num_layers=2, num_heads=2, dropout=0.0)
    return LMConfig(**{**fields, **overrides})


def save_tiny_dac(path: Path) -> Path:
    """A small 16 kHz DAC (4 codebooks of 1024, hop 320) saved with package=False."""
    import dac

    torch.manual_seed(0)
    model = dac.DAC(encoder_dim=16, encoder_rates=[2, 4, 5, 8], decoder_dim=64, decoder_rates=[8, 5, 4, 2],
                    n_codebooks=4, codebook_size=1024, sample_rate=16000)
    model.save(str(path), package=False)
    return path


def save_tiny_models(folder: Path, text_encoder=None) -> dict[str, str]:
    """A codec, a pocket CLAP and an LM checkpoint that records both; returns the [model] paths.

    ``text_encoder`` stands in for MiniLM while building; the saved CLAP loads
    with the real one, as every pocket CLAP does.
    """
    from livesampler.model.checkpoint import save_lm
    from livesampler.model.clap import PocketClap, PocketClapConfig
    from livesampler.model.codec import DacCodec
    from livesampler.model.lm import LanguageModel

    folder.mkdir(parents=True, exist_ok=True)
    dac_path = save_tiny_dac(folder / "tiny_dac.pth")
    codec = DacCodec.load(dac_path)
    torch.manual_seed(0)
    clap = PocketClap(PocketClapConfig(n_mels=32, channels=(8, 16)), text_encoder)
    clap.save(folder / "clap")
    lm = LanguageModel(tiny_lm_config(num_codebooks=4, codebook_size=1024))
    save_lm(folder / "lm", lm, codec.id, clap.id)
    return {"codec": "dac", "codec_weights": str(dac_path), "clap_path": str(folder / "clap"), "lm_checkpoint": str(folder / "lm")}
