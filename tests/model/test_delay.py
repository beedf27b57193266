import pytest
import torch

from livesampler.model import ModelError
from livesampler.model.delay import DelayPattern

SPECIAL = 99


@pytest.mark.parametrize("pattern", [DelayPattern.musicgen(4), DelayPattern.parallel(3), DelayPattern((0, 2, 3))])
def test_round_trip(pattern):
    codes = torch.randint(0, 50, (2, pattern.num_codebooks, 7))
    built = pattern.build(codes, SPECIAL)
    assert built.shape == (2, pattern.num_codebooks, 7 + pattern.max_delay)
    assert torch.equal(pattern.revert(built), codes)


def test_layout_matches_the_valid_mask():
    pattern = DelayPattern.musicgen(3)
    codes = torch.arange(12).reshape(1, 3, 4)
    built = pattern.build(codes, SPECIAL)[0]
    # codebook k starts k steps late; the cells outside are the special token
    assert built.tolist() == [[0, 1, 2, 3, SPECIAL, SPECIAL],
                              [SPECIAL, 4, 5, 6, 7, SPECIAL],
                              [SPECIAL, SPECIAL, 8, 9, 10, 11]]
    assert torch.equal(pattern.valid_mask(4), built != SPECIAL)


def test_dac_note_length():
    # a 4 s note of DAC 44.1 kHz: 345 frames, 353 steps with 9 codebooks
    assert DelayPattern.musicgen(9).num_steps(345) == 353


@pytest.mark.parametrize("delays", [(), (1, 2), (0, -1)])
def test_invalid_patterns_are_refused(delays):
    with pytest.raises(ModelError):
        DelayPattern(delays)


def test_codebook_count_is_checked():
    with pytest.raises(ModelError, match="codebooks"):
        DelayPattern.musicgen(3).build(torch.zeros(1, 4, 5, dtype=torch.long), SPECIAL)
