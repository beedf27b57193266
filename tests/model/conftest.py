"""Small models built in Python, so the model tests need no weight files."""

import pytest
import torch

from livesampler.model.lm import LanguageModel

from .tiny import save_tiny_dac, tiny_lm_config  # noqa: F401  (tiny_lm_config: the tests import it from here)

# The models here are tiny: a second thread saves nothing per op, and when another
# process holds a core, threads waiting on each other make every op a time slice long.
torch.set_num_threads(1)


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
    return save_tiny_dac(tmp_path_factory.mktemp("dac") / "tiny_dac.pth")
