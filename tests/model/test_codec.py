import shutil

import pytest
import torch

from livesampler.model.codec import CodecError, DacCodec


def test_round_trip_through_our_loader(tiny_dac_file):
    import dac

    codec = DacCodec.load(tiny_dac_file)
    assert (codec.sample_rate, codec.num_codebooks, codec.codebook_size, codec.frame_rate) == (16000, 4, 1024, 50.0)
    assert codec.id.startswith("dac-") and codec.num_frames(4.0) == 200
    audio = 0.1 * torch.randn(2, 16000 + 100)  # not a whole number of frames
    codes = codec.encode(audio)
    assert codes.shape == (2, 4, 51) and codes.dtype == torch.long
    decoded = codec.decode(codes)
    # the raw decoder can fall a few samples short with a rate of 5; the wrapper pads to whole frames
    assert decoded.shape == (2, 51 * 320)
    # the same as descript-audio-codec's own loader and decoder
    reference = dac.DAC.load(str(tiny_dac_file)).eval()
    with torch.inference_mode():
        z = reference.quantizer.from_codes(codes)[0]
        expected = reference.decode(z)[:, 0]
    n = min(expected.shape[1], decoded.shape[1])
    assert torch.allclose(decoded[:, :n], expected[:, :n], atol=1e-5)


def test_fewer_codebooks(tiny_dac_file):
    codec = DacCodec.load(tiny_dac_file, num_codebooks=2)
    audio = 0.1 * torch.randn(1, 3200)
    codes = codec.encode(audio)
    assert codes.shape == (1, 2, 10)
    # residual quantisation: the first codebooks do not depend on how many follow
    assert torch.equal(codes, DacCodec.load(tiny_dac_file).encode(audio)[:, :2])
    assert codec.decode(codes).shape == (1, 3200)
    with pytest.raises(CodecError, match="asked for 5"):
        DacCodec.load(tiny_dac_file, num_codebooks=5)


def test_same_file_same_id(tiny_dac_file, tmp_path):
    copy = tmp_path / "copy.pth"
    shutil.copy(tiny_dac_file, copy)
    assert DacCodec.load(copy).id == DacCodec.load(tiny_dac_file).id


def test_missing_file(tmp_path):
    with pytest.raises(CodecError, match="do not exist: expected a DAC weights file") as err:
        DacCodec.load(tmp_path / "nope.pth")
    assert "\n" not in str(err.value)


def test_wrong_files(tmp_path, tiny_dac_file):
    text = tmp_path / "notes.txt"
    text.write_text("not weights")
    with pytest.raises(CodecError, match="found a file torch cannot read"):
        DacCodec.load(text)
    other = tmp_path / "other.pth"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(CodecError, match=r"found a dict with keys \['weights'\]"):
        DacCodec.load(other)
    damaged = tmp_path / "damaged.pth"
    saved = torch.load(tiny_dac_file, weights_only=True)
    saved["state_dict"].pop(next(iter(saved["state_dict"])))
    torch.save(saved, damaged)
    with pytest.raises(CodecError, match=r"do not fit the DAC .*\(1 missing, e.g. "):
        DacCodec.load(damaged)


def test_torch_package_is_refused_not_unpickled(tmp_path):
    import dac

    model = dac.DAC(encoder_dim=8, encoder_rates=[2, 2], decoder_dim=16, decoder_rates=[2, 2], n_codebooks=2,
                    codebook_size=16, sample_rate=8000)
    path = tmp_path / "package.pth"
    model.save(str(path), package=True)
    with pytest.raises(CodecError, match="torch.package archive"):
        DacCodec.load(path)
