"""The pocket harmonic-plus-noise codec: codes, round trips at the asked pitch, model folders."""

import json
from dataclasses import replace

import numpy as np
import pytest
import soundfile
import torch

from livesampler.cli import main
from livesampler.config import parse_config
from livesampler.model.codec import CodecError, load_codec
from livesampler.model.hnc import HarmonicNoiseCodec, HncConfig, estimate_pitch, fit_hnc, midi_to_hz
from livesampler.data import DatasetError
from livesampler.train.codec import fit_notes
from tests.data.conftest import entry

SR = 16000
SMALL = HncConfig(codebook_size=32, kmeans_iters=8)


def tone(pitch, seconds=2.0, decay=1.5, seed=0, tilt=1.0):
    """A sum of harmonics at ``pitch`` (amplitude 1 / h ** tilt), decaying, with a 10 ms attack and a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * SR)) / SR
    f0 = midi_to_hz(pitch)
    x = sum(np.sin(2 * np.pi * h * f0 * t + rng.uniform(0, 2 * np.pi)) / h ** tilt
            for h in range(1, 30) if h * f0 < 7000)
    x = 0.2 * x * np.exp(-decay * t) * np.minimum(1, t / 0.01) + 1e-3 * rng.standard_normal(len(t))
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def codec():
    notes = [(tone(p, seed=p, tilt=0.7 + (p % 5) / 5), SR, p) for p in range(36, 96, 4)]
    return fit_hnc(notes, SMALL)


def harmonic_db(x, pitch, count=6):
    """Level of each of the first ``count`` harmonics over the note's first second, dB."""
    spectrum = np.abs(np.fft.rfft(x[:SR] * np.hanning(SR)))
    f0 = midi_to_hz(pitch)
    return np.array([20 * np.log10(spectrum[round(h * f0) - 3:round(h * f0) + 4].max() + 1e-12)
                     for h in range(1, count + 1)])


def test_shapes_and_code_ranges(codec):
    assert (codec.sample_rate, codec.num_codebooks, codec.codebook_size, codec.frame_rate) == (SR, 4, 32, 50.0)
    assert codec.num_frames(4.0) == 200 and codec.id.startswith("hnc-")
    audio = torch.from_numpy(np.stack([tone(48)[:SR + 100], tone(72)[:SR + 100]]))  # not a whole number of frames
    codes = codec.encode(audio, torch.tensor([48, 72]))
    assert codes.shape == (2, 4, 51) and codes.dtype == torch.long
    assert 0 <= int(codes.min()) and int(codes.max()) < 32
    out = codec.decode(codes, torch.tensor([48, 72]))
    assert out.shape == (2, 51 * 320) and out.dtype == torch.float32
    assert codec.decode(codes[:, :2], torch.tensor([48, 72])).shape == (2, 51 * 320)  # fewer codebooks
    # residual codes: the first codebooks do not depend on the later ones, and each one helps
    err = [float((codec.dequantise(codes[:, :k]) - codec.analyse(audio, torch.tensor([48, 72]))).pow(2).mean())
           for k in (1, 2, 4)]
    assert err[0] > err[1] > err[2]


def test_harmonic_tone_round_trips_at_its_pitch(codec):
    pitch = 57  # 220 Hz, between the fitted pitches
    x = tone(pitch, seed=7, tilt=0.9)
    out = codec.decode(codec.encode(torch.from_numpy(x)[None], torch.tensor([pitch])), torch.tensor([pitch]))[0]
    out = out[:len(x)].numpy()
    assert estimate_pitch(out, SR) == pitch
    spectrum = np.abs(np.fft.rfft(out[:SR] * np.hanning(SR)))
    assert abs(np.argmax(spectrum) - midi_to_hz(pitch)) < 3  # the loudest partial is the fundamental, in Hz
    assert np.abs(harmonic_db(out, pitch) - harmonic_db(x, pitch)).max() < 4.0
    # without quantisation the analysis/synthesis is close to exact
    plain = codec.synthesise(codec.analyse(torch.from_numpy(x)[None], torch.tensor([pitch])), torch.tensor([pitch]))
    assert np.abs(harmonic_db(plain[0].numpy(), pitch) - harmonic_db(x, pitch)).max() < 1.0
    # the energy envelope follows the decay
    def env(a):
        return 10 * np.log10(np.mean(a[:len(x) // 320 * 320].reshape(-1, 320) ** 2, axis=1) + 1e-12)
    assert np.corrcoef(env(x), env(out))[0, 1] > 0.95


def test_pitch_estimate_for_encoding_without_one(codec):
    for pitch in (40, 60, 81):
        assert estimate_pitch(tone(pitch, seed=pitch), SR) == pitch
    x = torch.from_numpy(tone(64))[None]
    assert torch.equal(codec.encode(x), codec.encode(x, torch.tensor([64])))


def test_save_and_load(codec, tmp_path):
    folder = codec.save(tmp_path / "hnc", extra={"notes": 15})
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    loaded = HarmonicNoiseCodec.load(folder)
    assert loaded.id == codec.id and loaded.cfg == codec.cfg
    x = torch.from_numpy(tone(50))[None]
    codes = codec.encode(x, torch.tensor([50]))
    assert torch.equal(loaded.encode(x, torch.tensor([50])), codes)
    assert torch.equal(loaded.decode(codes, torch.tensor([50])), codec.decode(codes, torch.tensor([50])))
    assert load_codec("hnc", folder).id == codec.id
    # a codec fitted the same way is the same codec
    again = fit_hnc([(tone(p, seed=p, tilt=0.7 + (p % 5) / 5), SR, p) for p in range(36, 96, 4)], SMALL)
    assert again.id == codec.id


def test_bad_files(codec, tmp_path):
    with pytest.raises(CodecError, match="does not exist") as err:
        HarmonicNoiseCodec.load(tmp_path / "nope")
    assert "\n" not in str(err.value)
    folder = codec.save(tmp_path / "hnc")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "format": "livesampler-lm"}))
    with pytest.raises(CodecError, match="format/version"):
        HarmonicNoiseCodec.load(folder)
    (folder / "config.json").write_text(json.dumps({**config, "id": "hnc-0000"}))
    with pytest.raises(CodecError, match="changed or damaged"):
        HarmonicNoiseCodec.load(folder)
    (folder / "config.json").write_text(json.dumps({**config, "hnc": {**config["hnc"], "codebook_size": 64}}))
    with pytest.raises(CodecError, match="do not fit its settings"):
        HarmonicNoiseCodec.load(folder)
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CodecError, match="safetensors cannot read"):
        HarmonicNoiseCodec.load(folder)
    with pytest.raises(CodecError, match="unknown codec family 'mp3'"):
        load_codec("mp3", folder)


def test_bad_codes_and_missing_pitch(codec):
    codes = torch.zeros(1, 4, 10, dtype=torch.long)
    with pytest.raises(CodecError, match="decodes at the note's pitch"):
        codec.decode(codes)
    with pytest.raises(CodecError, match=r"codes must lie in \[0, 32\)"):
        codec.decode(codes + 32, torch.tensor([60]))
    with pytest.raises(CodecError, match="the codec has 4 codebooks, the codes have 5"):
        codec.decode(torch.zeros(1, 5, 10, dtype=torch.long), torch.tensor([60]))


def test_decode_is_repeatable(codec):
    codes = codec.encode(torch.from_numpy(tone(62))[None], torch.tensor([62]))
    pitch = torch.tensor([62])
    assert torch.equal(codec.decode(codes, pitch), codec.decode(codes, pitch))
    seeded = [codec.decode(codes, pitch, generator=np.random.default_rng(5)) for _ in range(2)]
    assert torch.equal(*seeded)
    other = codec.decode(codes, pitch, generator=np.random.default_rng(6))
    assert not torch.equal(seeded[0], other)  # only the noise differs
    assert float((seeded[0] - other).pow(2).mean()) < 0.05 * float(seeded[0].pow(2).mean())


def test_smoothing_removes_jumps_and_keeps_steps_and_decays(codec, tmp_path):
    """The decode-side running median: a one-frame jump goes, an attack, a step and a decay stay exactly."""
    smooth = HarmonicNoiseCodec(replace(codec.cfg, smooth_frames=3), codec.codebooks, codec.mean, codec.std)
    assert smooth.id == codec.id  # the same codes, the same LM
    T, D = 40, codec.cfg.feature_size
    attack = int(np.ceil(0.1 * codec.frame_rate))
    t = np.arange(T, dtype=np.float32)[:, None]
    decay = np.broadcast_to(-0.1 * t, (T, D)).copy()
    decay[0] = -20.0  # silence before the attack
    step = np.where(t < 20, -3.0, -8.0).astype(np.float32) * np.ones(D, np.float32)
    jumpy = decay.copy()
    jumpy[25] += 4.0  # one sampled frame far off its neighbours
    out = smooth._smooth(np.stack([decay, step, jumpy]))
    assert np.array_equal(out[0], decay) and np.array_equal(out[1], step)
    assert np.abs(out[2] - decay).max() <= 0.1 + 1e-5  # the jump is gone: at most one frame's decay off
    peak = decay.copy()
    peak[1] += 5.0  # a one-frame peak at the onset is the attack: kept
    assert attack >= 2 and np.array_equal(smooth._smooth(peak[None])[0], peak)
    # in the model folder: saved, loaded, and bad values refused in one line
    folder = smooth.save(tmp_path / "smooth")
    assert HarmonicNoiseCodec.load(folder).cfg.smooth_frames == 3
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "hnc": {**config["hnc"], "smooth_frames": 4}}))
    with pytest.raises(CodecError, match="odd number of frames"):
        HarmonicNoiseCodec.load(folder)


def nsynth_folder(folder, pitches):
    (folder / "audio").mkdir(parents=True)
    examples = {}
    for p in pitches:
        name, examples[name] = entry("test_synth", p, 100, family="synth_lead", source="synthetic")
        soundfile.write(folder / "audio" / f"{name}.wav", tone(p, seconds=1.0, seed=p), SR)
    (folder / "examples.json").write_text(json.dumps(examples))
    return folder


def test_train_codec_command(tmp_path, capsys):
    data = nsynth_folder(tmp_path / "notes" / "nsynth-train", [40, 52, 64, 76, 88]).parent
    assert [n.pitch for n in fit_notes(data, max_notes=3)] == [40, 64, 88]
    main(["train", "codec", "--data", str(data), "-o", str(tmp_path / "hnc"), "--max-notes", "4"])
    out = capsys.readouterr().out
    codec = HarmonicNoiseCodec.load(tmp_path / "hnc")
    assert codec.id in out and (codec.num_codebooks, codec.codebook_size, codec.frame_rate) == (3, 512, 25)
    main(["train", "codec", "--data", str(data), "-o", str(tmp_path / "hnc50"), "--max-notes", "4", "--hop", "320",
          "--codebooks", "4", "--codebook-size", "256"])
    codec = HarmonicNoiseCodec.load(tmp_path / "hnc50")
    assert (codec.num_codebooks, codec.codebook_size, codec.frame_rate, codec.cfg.min_window) == (4, 256, 50, 512)
    assert codec.cfg.smooth_frames == 3
    with pytest.raises(SystemExit):
        main(["train", "codec", "--data", str(data), "-o", str(tmp_path / "z"), "--smooth-frames", "2"])
    assert "--smooth-frames must be odd" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit:
        main(["train", "codec", "--data", str(tmp_path / "nothing"), "-o", str(tmp_path / "x")])
    assert exit.value.code == 2
    assert "note set folder" in capsys.readouterr().err
    (data / "nsynth-train" / "audio" / "test_synth-040-100.wav").write_bytes(b"not audio")
    with pytest.raises(SystemExit):
        main(["train", "codec", "--data", str(data / "nsynth-train"), "-o", str(tmp_path / "y")])
    err = capsys.readouterr().err
    assert "cannot read" in err and "test_synth-040-100.wav" in err


def test_config_selects_hnc():
    assert parse_config('[model]\ncodec = "hnc"\ncodec_weights = "models/pocket_codec"').model.codec == "hnc"
