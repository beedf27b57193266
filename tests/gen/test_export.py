"""Exporting a generated instrument as an SFZ library: it plays in an SFZ player as it plays live.
Beside it, a Decent Sampler preset that maps the same files."""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import soundfile

from livesampler.config import EngineConfig
from livesampler.gen.export import ExportError, dspreset_text, export_instrument, spans
from livesampler.gen.spec import InstrumentSpec
from livesampler.gen.store import SampleStore
from livesampler.rt.engine import NOTE_OFF, NOTE_ON, Engine
from livesampler.rt.instrument import Instrument
from livesampler.rt.render import render
from livesampler.rt.samples import SampleBank
from livesampler.rt.sfz import parse_sfz

ROOT = Path(__file__).resolve().parents[2]
SR = 16000
KEYS = [(48, 50), (48, 100), (55, 127), (60, 25), (60, 75), (60, 127), (72, 100)]


def tone(pitch, layer, level=1.0, seconds=0.5):
    t = np.arange(int(seconds * SR)) / SR
    partials = sum(np.sin(2 * np.pi * k * 440 * 2 ** ((pitch - 69) / 12) * t) / k for k in (1, 2, 3))
    return (level * layer / 127 * 0.5 * partials * np.exp(-3 * t)).astype(np.float32)


@pytest.fixture
def made(tmp_path):
    store = SampleStore(tmp_path / "cache")
    spec = InstrumentSpec.make("glass harp", seed=3, model_ids={"lm": "x"})
    store.open(spec, SR)
    for pitch, layer in KEYS:
        store.write(spec.id, (pitch, layer), tone(pitch, layer), SR)
    store.update_manifest(spec.id)
    return store, store.find(spec.id)


def played(instrument: Instrument, bank: SampleBank) -> np.ndarray:
    """Every key at a spread of velocities, one after another, through the engine offline."""
    engine = Engine(EngineConfig(gain_db=0.0, limiter_threshold=0.99, release=0.25), 48000, [instrument], bank)
    events, at = [], 0
    for key in range(36, 85, 3):
        for velocity in (1, 30, 37, 38, 64, 90, 127):
            events += [(at, (NOTE_ON, 0, key, velocity)), (at + 2400, (NOTE_OFF, 0, key, 0))]
            at += 4800
    return render(engine, events, 128)


def test_spans_split_at_the_midpoint_ties_going_low():
    assert spans([48, 60, 72]) == {48: (0, 54), 60: (55, 66), 72: (67, 127)}
    assert spans([25, 75, 127], 0, 127) == {25: (0, 50), 75: (51, 101), 127: (102, 127)}
    assert spans([60]) == {60: (0, 127)}


def test_the_exported_sfz_plays_like_the_live_instrument(made, tmp_path):
    store, inst = made
    report = export_instrument(store, inst, tmp_path / "out", release=0.25)
    assert report.notes == len(KEYS) and report.damaged == [] and report.scale_db == 0.0
    assert report.sfz == tmp_path / "out" / "glass_harp" / "glass_harp.sfz"
    sfz = parse_sfz(report.sfz)
    assert len(sfz.regions) == len(KEYS)

    live_bank, sfz_bank = SampleBank(48000), SampleBank(48000)
    live = Instrument.from_samples("live", {k: store.read(inst.id, k)[0] for k in KEYS}, SR, live_bank, 0.25)
    exported = Instrument.from_sfz(report.sfz, sfz_bank)
    a, b = played(live, live_bank), played(exported, sfz_bank)
    assert np.abs(a).max() > 0.05
    assert a.shape == b.shape and np.abs(a - b).max() < 1e-4  # 24-bit files: the same sound

    info = soundfile.info(report.folder / "samples" / "p060_v025.wav")
    assert (info.samplerate, info.subtype, info.channels) == (SR, "PCM_24", 1)
    record = json.loads((report.folder / "instrument.json").read_text())
    assert record["prompt"] == "glass harp" and record["seed"] == 3 and record["id"] == inst.id
    assert record["notes"] == [list(k) for k in KEYS]


def test_loud_notes_are_scaled_into_range_and_the_level_given_back(tmp_path):
    store = SampleStore(tmp_path / "cache")
    spec = InstrumentSpec.make("hot", model_ids={"lm": "x"})
    store.open(spec, SR)
    store.write(spec.id, (60, 127), tone(60, 127, level=3.0), SR)
    store.write(spec.id, (60, 50), tone(60, 50, level=3.0), SR)
    inst = store.find(spec.id)
    report = export_instrument(store, inst, tmp_path / "out", bits="16")
    assert report.scale_db < -3
    audio, _ = soundfile.read(report.folder / "samples" / "p060_v127.wav", dtype="float32")
    assert 0.99 < np.abs(audio).max() < 1.0  # no clipping
    live_bank, sfz_bank = SampleBank(48000), SampleBank(48000)
    live = Instrument.from_samples("live", {k: store.read(inst.id, k)[0] for k in inst.notes}, SR, live_bank, 0.25)
    a, b = played(live, live_bank), played(Instrument.from_sfz(report.sfz, sfz_bank), sfz_bank)
    assert np.abs(a - b).max() < 2e-3 * np.abs(a).max() + 1e-3  # 16-bit: the same up to its noise


def test_subsets_damaged_notes_and_existing_folders(made, tmp_path):
    store, inst = made
    report = export_instrument(store, inst, tmp_path / "out", keys={(60, 25), (60, 75), (61, 100)})
    assert report.notes == 2
    with pytest.raises(ExportError, match="exists and is not empty.*--force"):
        export_instrument(store, inst, tmp_path / "out")
    path = store.folder(inst.id) / "p048_v050.wav"
    path.write_bytes(path.read_bytes()[:-100])  # truncated
    report = export_instrument(store, inst, tmp_path / "out", force=True)
    assert report.notes == len(KEYS) - 1 and "p048_v050.wav" in report.damaged[0]
    assert not path.exists()  # removed, so that the live host or --complete makes it again
    assert len(list((report.folder / "samples").iterdir())) == len(KEYS) - 1  # the earlier export replaced
    assert not list((tmp_path / "out").glob(".*"))  # no temporary folders left
    with pytest.raises(ExportError, match="has none of the notes asked for"):
        export_instrument(store, inst, tmp_path / "other", keys={(100, 25)})


def check_dspreset(path: Path) -> list[ET.Element]:
    """What a Decent Sampler load needs: every sample there, every key 21-108 at every velocity 1-127
    answered by exactly one sample, loops inside their samples. Returns the samples."""
    root = ET.parse(path).getroot()
    assert root.tag == "DecentSampler"
    (groups,) = root.findall("groups")
    samples = groups.findall("group/sample")
    assert samples
    covered = np.zeros((128, 128), int)
    for sample in samples:
        wav = path.parent / sample.get("path")
        assert wav.is_file(), wav
        lo_note, hi_note, lo_vel, hi_vel = (int(sample.get(a)) for a in ("loNote", "hiNote", "loVel", "hiVel"))
        assert lo_note <= int(sample.get("rootNote")) <= hi_note
        covered[lo_note:hi_note + 1, lo_vel:hi_vel + 1] += 1
        if sample.get("loopStart") is not None:
            frames = soundfile.info(wav).frames
            assert 0 <= int(sample.get("loopStart")) < int(sample.get("loopEnd")) < frames
    assert np.all(covered[21:109, 1:128] == 1)  # no gap, no overlap
    return samples


def test_the_exported_dspreset_names_existing_samples_and_covers_the_keyboard(made, tmp_path):
    store, inst = made
    report = export_instrument(store, inst, tmp_path / "out", release=0.3)
    assert report.dspreset == report.folder / "glass_harp.dspreset"
    samples = check_dspreset(report.dspreset)
    assert sorted(s.get("path") for s in samples) == sorted(f"samples/p{p:03d}_v{v:03d}.wav" for p, v in KEYS)
    assert not any(s.get("loopStart") for s in samples)  # cached notes have no loops to give
    root = ET.parse(report.dspreset).getroot()
    assert root.find("groups").get("release") == "0.3"
    for group in root.iter("group"):
        # Decent Sampler's velocity curve is linear: a layer played at its own velocity keeps its level.
        layer = int(group.get("name").split()[-1])
        assert all(s.get("path").endswith(f"_v{layer:03d}.wav") for s in group.iter("sample"))
        assert group.get("ampVelTrack") == "1"
        assert abs(layer / 127 * 10 ** (float(group.get("volume").removesuffix("dB")) / 20) - 1) < 1e-3


def test_dspreset_loops_stay_inside_their_samples(made, tmp_path):
    store, inst = made
    report = export_instrument(store, inst, tmp_path / "out")
    frames = {k: soundfile.info(report.folder / "samples" / f"p{k[0]:03d}_v{k[1]:03d}.wav").frames for k in KEYS}
    loops = {k: (n // 4, n - 2) for k, n in frames.items() if k[1] == 100}
    path = report.folder / "looped.dspreset"
    path.write_text(dspreset_text(KEYS, 0.25, 0.0, ["a -- prompt"], loops), encoding="utf-8")
    samples = check_dspreset(path)
    looped = {s.get("path"): (int(s.get("loopStart")), int(s.get("loopEnd"))) for s in samples if s.get("loopStart")}
    assert looped == {f"samples/p{p:03d}_v100.wav": loops[(p, 100)] for p, v in KEYS if v == 100}


def cli(tmp_path, *args):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "livesampler", "--config", str(tmp_path / "config.toml"),
                           *map(str, args)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_cli_exports_by_id_and_says_what_is_wrong_in_one_line(made, tmp_path):
    store, inst = made
    (tmp_path / "config.toml").write_text(f'[cache]\ndir = "{store.root}"\n')
    done = cli(tmp_path, "export", inst.id[:6], "-o", tmp_path / "lib", "--velocities", "25,75,127")
    assert done.returncode == 0, done.stderr
    assert f"exported 4 of {88 * 3} notes of 'glass harp'" in done.stdout
    assert (tmp_path / "lib" / "glass_harp" / "glass_harp.sfz").is_file()
    check_dspreset(tmp_path / "lib" / "glass_harp" / "glass_harp.dspreset")
    for args, says in [((), "one of: an instrument id, --prompt TEXT or --reference FILE"),
                       (("nope",), "no instrument in"),
                       ((inst.id[:6], "--velocities", "64"), "--velocities: the layers are 25,50,75,100,127"),
                       ((inst.id[:6], "--pitches", "10-20"), "--pitches: generated instruments have pitches 21-108"),
                       ((inst.id[:6], "-o", tmp_path / "lib"), "exists and is not empty"),
                       (("--prompt", "  "), "the prompt is empty")]:
        failed = cli(tmp_path, "export", *args)
        assert failed.returncode != 0 and "Traceback" not in failed.stderr
        lines = failed.stderr.strip().splitlines()
        assert len(lines) == 1 and says in lines[0], failed.stderr


@pytest.mark.slow
def test_cli_completes_a_prompt_with_the_shipped_models_then_exports_it(tmp_path):
    config = (ROOT / "config.toml").read_text()
    for key in ("codec_weights", "clap_path", "lm_checkpoint"):
        config = config.replace(f'{key} = "models/', f'{key} = "{ROOT}/models/')
    (tmp_path / "config.toml").write_text(config)
    done = cli(tmp_path, "export", "--prompt", "grand piano", "--complete", "--pitches", "60,67",
               "--velocities", "100", "-o", tmp_path / "lib")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "generated 2 notes" in done.stdout and "exported 2 of 2 notes of 'grand piano'" in done.stdout
    sfz = parse_sfz(tmp_path / "lib" / "grand_piano" / "grand_piano.sfz")
    assert sorted(r.pitch_keycenter for r in sfz.regions) == [60, 67]
    again = cli(tmp_path, "export", "--prompt", "grand piano", "--complete", "--pitches", "60,67",
                "--velocities", "100", "-o", tmp_path / "lib", "--force")
    assert again.returncode == 0 and "generated 0 notes" in again.stdout  # the cache had them
