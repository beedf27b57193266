"""Small models built in Python, so the model tests need no weight files."""

import pytest
import torch

from livesampler.model.lm import LanguageModel, LMConfig

# The models here are tiny: a second thread saves nothing per op, and when another
# process holds a core, threads waiting on each other make every op a time slice long.
torch.set_num_threads(1)


def tiny_lm_config(**overrides) -> LMConfig:
    fields = dict(num_codebooks=3, codebook_size=16, dim=32, num_layers=2, num_heads=2, dropout=0.0)
    return LMConfig(**{**fields, **overrides})


@pytest.fixture
def tiny_lm() -> LanguageModel:
    torch.manual_seed(0)
    return LanguageModel(tiny_lm_config()).eval()


def fake_text_encoder(texts):
    """Texts -> unit vectors [B, 384], the same for the same text: stands in for MiniLM."""
    rows = []
    for text in texts:
        g = torch.Generator().manual_seed(sum(map(ord, text)))
        rows.append(torch.nn.functional.normalize(torch.randn(384, generator=g), dim=0))
    return torch.stack(rows)


@pytest.fixture(scope="session")
def tiny_dac_file(tmp_path_factory):
    """A small 16 kHz DAC (4 codebooks of 1024, hop 320) saved the way training saves one."""
    import dac

    torch.manual_seed(0)
    model = dac.DAC(encoder_dim=16, encoder_rates=[2, 4, 5, 8], decoder_dim=64, decoder_rates=[8, 5, 4, 2],
                    n_codebooks=4, codebook_size=1024, sample_rate=16000)
    path = tmp_path_factory.mktemp("dac") / "tiny_dac.pth"
    model.save(str(path), package=False)
    return path
