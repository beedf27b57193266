"""Features from real (tiny) codec and CLAP, and the LM trainer on them: loss falls, resumption is exact."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from livesampler.data.features import FeatureError, Features, NoteInfo, prepare
from livesampler.model.clap import PocketClap, PocketClapConfig
from livesampler.model.codec import DacCodec
from livesampler.train.lm import LMTrainer, TrainConfig, reference_rows

from tests.model.conftest import fake_text_encoder
from tests.model.tiny import save_tiny_dac

SR = 16000
SECONDS = 0.4
SHAPES = {"sine": (1.0,), "bright": (1.0, 0.6, 0.4, 0.3), "hollow": (1.0, 0.0, 0.5, 0.0, 0.3)}
SPLITS = {"sine": "train", "bright": "train", "hollow": "valid"}


def note_set() -> list[NoteInfo]:
    return [NoteInfo(f"{name}-{p:03d}-{v:03d}", p, v, name, 4, 2, SPLITS[name])
            for name in SHAPES for p in (48, 55, 60, 67, 72) for v in (50, 100)]


def load_audio(note: NoteInfo) -> tuple[np.ndarray, int]:
    t = np.arange(int(SECONDS * SR)) / SR
    f = 440 * 2 ** ((note.pitch - 69) / 12)
    wave = sum(a * np.sin(2 * np.pi * f * (h + 1) * t) for h, a in enumerate(SHAPES[note.instrument]))
    return (note.velocity / 127 * 0.3 * wave * np.exp(-2 * t)).astype(np.float32), SR


@pytest.fixture(scope="module")
def encoders(tmp_path_factory):
    torch.manual_seed(0)
    codec = DacCodec.load(save_tiny_dac(tmp_path_factory.mktemp("dac") / "tiny_dac.pth"))
    clap = PocketClap(PocketClapConfig(n_mels=32, channels=(8, 16)), fake_text_encoder)
    clap.id = "pocket-clap-test"
    return codec, clap


@pytest.fixture(scope="module")
def features(tmp_path_factory, encoders):
    folder = tmp_path_factory.mktemp("features")
    prepare(note_set(), load_audio, folder, *encoders, note_seconds=SECONDS, batch_size=8)
    return Features(folder)


def test_prepare_is_incremental_and_refuses_another_codec(tmp_path, encoders):
    codec, clap = encoders
    notes = note_set()
    assert prepare(notes[:7], load_audio, tmp_path, codec, clap, note_seconds=SECONDS, batch_size=4) == 7
    first = Features(tmp_path)
    kept = np.array(first.codes[:7])
    assert prepare(notes, load_audio, tmp_path, codec, clap, note_seconds=SECONDS, batch_size=4) == len(notes) - 7
    assert prepare(notes, load_audio, tmp_path, codec, clap, note_seconds=SECONDS) == 0  # all done
    again = Features(tmp_path)
    assert again.done.all() and len(again.notes) == len(notes)
    assert np.array_equal(np.array(again.codes[:7]), kept)
    assert again.codes.shape == (len(notes), codec.num_codebooks, codec.num_frames(SECONDS))
    assert again.codes.max() < codec.codebook_size and again.codes.min() >= 0
    assert np.allclose(np.linalg.norm(again.clap.astype(np.float32), axis=1), 1, atol=1e-2)
    other = replace_id(clap, "pocket-clap-other")
    with pytest.raises(FeatureError, match="prepared with codec .* give another output folder"):
        prepare(notes, load_audio, tmp_path, codec, other, note_seconds=SECONDS)


def replace_id(clap, new_id):
    clone = PocketClap(clap.cfg, fake_text_encoder)
    clone.id = new_id
    return clone


def test_fixed_scheme_reference_is_the_note_nearest_middle_c_at_velocity_100(features):
    refs = reference_rows(features)
    assert set(refs) == set(SHAPES)
    for name, row in refs.items():
        n = features.notes[row]
        assert (n.instrument, n.pitch, n.velocity) == (name, 60, 100)


def small(**overrides) -> TrainConfig:
    fields = dict(preset="pocket", steps=40, batch_size=8, lr=2e-3, warmup=5, eval_every=10, val_notes=8,
                  condition_dropout=0.3, seed=1)
    return TrainConfig(**{**fields, **overrides})


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["baseline", "random", "fixed"])
def test_loss_falls(features, tmp_path, scheme):
    torch.set_num_threads(1)
    history = LMTrainer(small(clap_scheme=scheme), features, tmp_path, log=lambda m: None).run(progress=False)
    assert [h["step"] for h in history] == [10, 20, 30, 40]
    assert history[-1]["train_loss"] < history[0]["train_loss"] - 0.5
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    assert len(history[-1]["val_per_codebook"]) == features.num_codebooks
    assert (tmp_path / "checkpoint" / "model.safetensors").is_file()
    assert (tmp_path / "log.jsonl").read_text().count("\n") == 4


def test_resuming_from_a_checkpoint_is_exact(features, tmp_path, encoders):
    torch.set_num_threads(1)
    cfg = small(steps=6, eval_every=3)
    straight = LMTrainer(cfg, features, tmp_path / "a", log=lambda m: None)
    straight.run(progress=False)
    LMTrainer(cfg, features, tmp_path / "b", log=lambda m: None).run(progress=False, until=3)
    messages = []
    resumed = LMTrainer(cfg, features, tmp_path / "b", codec=encoders[0], log=messages.append)
    assert resumed.step == 3 and "resumed" in messages[0]
    history = resumed.run(progress=False)
    assert resumed.step == 6 and [h["step"] for h in history] == [3, 6]
    for (name, a), b in zip(straight.lm.state_dict().items(), resumed.lm.state_dict().values()):
        assert torch.equal(a, b), name
    assert history[-1]["val_loss"] == straight.history[-1]["val_loss"]
    # The resumed run was given the codec: its checkpoint came with notes to listen to.
    samples = sorted((tmp_path / "b" / "samples" / "step_0000006").glob("*.wav"))
    assert len(samples) == len(cfg.sample_pitches)


def test_batches_cover_each_epoch_once_and_split_among_processes(features, tmp_path):
    trainer = LMTrainer(small(batch_size=5), features, tmp_path, log=lambda m: None)
    n = len(trainer.train_rows)
    seen = np.concatenate([trainer.batch_rows(s) for s in range(n // 5)])
    assert sorted(seen.tolist()) == sorted(trainer.train_rows.tolist())
    trainer.world, trainer.rank = 2, 1  # the second of two processes takes every other row of each batch
    assert trainer.batch_rows(0).tolist() == seen[:5][1::2].tolist()


@pytest.mark.slow
def test_two_processes_under_torchrun(features, tmp_path):
    """`train lm` under torchrun: two CPU processes on gloo share each batch; one checkpoint is written."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
               OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "--module", "livesampler", "train", "lm", "--data", str(features.folder), "--out", str(tmp_path / "run"),
         "--steps", "6", "--batch-size", "4", "--eval-every", "3", "--lr", "2e-3", "--warmup", "2", "--no-progress"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 process(es) on cpu" in result.stdout
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [3, 6]  # rank 0 alone writes
    printed = [json.loads(line)["step"] for line in result.stdout.splitlines() if line.startswith('{"step"')]
    assert printed == [3, 6]  # without a progress bar, each checkpoint's figures are printed, by rank 0 alone
    assert (tmp_path / "run" / "checkpoint" / "model.safetensors").is_file()


@pytest.mark.slow
def test_prepare_and_train_commands_on_a_note_set_in_nsynth_layout(tmp_path):
    """`dataset prepare` then `train lm`, as a user runs them, on real (tiny) model files."""
    import json
    import subprocess
    import sys

    import soundfile

    from tests.model.tiny import save_tiny_models

    models = save_tiny_models(tmp_path / "models", text_encoder=fake_text_encoder)
    (tmp_path / "config.toml").write_text("[model]\n" + "".join(f'{k} = "{v}"\n' for k, v in models.items())
                                          + "note_seconds = 0.4\n")
    for split_folder, names in (("nsynth-train", ("sine", "bright")), ("nsynth-valid", ("hollow",))):
        examples = {}
        (tmp_path / "set" / split_folder / "audio").mkdir(parents=True)
        for note in (n for n in note_set() if n.instrument in names):
            audio, rate = load_audio(note)
            soundfile.write(tmp_path / "set" / split_folder / "audio" / f"{note.key}.wav", audio, rate)
            examples[note.key] = {"note_str": note.key, "pitch": note.pitch, "velocity": note.velocity,
                                  "instrument": sorted(SHAPES).index(note.instrument),
                                  "instrument_str": note.instrument, "instrument_family": 4,
                                  "instrument_family_str": "keyboard", "instrument_source": 2,
                                  "instrument_source_str": "synthetic", "qualities": [0] * 10,
                                  "qualities_str": [], "sample_rate": rate}
        (tmp_path / "set" / split_folder / "examples.json").write_text(json.dumps(examples))

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "livesampler", *map(str, args)], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)

    sample = cli("dataset", "prepare", tmp_path / "set", "-o", tmp_path / "features", "--max-notes", "12")
    assert sample.returncode == 0, sample.stderr[-2000:]
    assert "12 notes encoded now" in sample.stdout
    some = Features(tmp_path / "features")
    assert {n.instrument for n in some.notes} == set(SHAPES) and len({n.pitch for n in some.notes}) == 5
    prepared = cli("dataset", "prepare", tmp_path / "set", "-o", tmp_path / "features")
    assert prepared.returncode == 0, prepared.stderr[-2000:]
    assert "18 notes encoded now" in prepared.stdout
    features = Features(tmp_path / "features")
    assert len(features.rows("train")) == 20 and len(features.rows("valid")) == 10
    trained = cli("train", "lm", "--data", tmp_path / "features", "-o", tmp_path / "run", "--steps", "2",
                  "--batch-size", "4", "--eval-every", "2", "--no-progress")
    assert trained.returncode == 0, trained.stderr[-2000:]
    # The configured codec made the features, so the checkpoint comes with notes to listen to.
    assert len(list((tmp_path / "run" / "samples" / "step_0000002").glob("*.wav"))) == 5
    missing = cli("train", "lm", "--data", tmp_path / "nowhere", "-o", tmp_path / "run2", "--steps", "1")
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
    assert "holds no features" in missing.stderr


def test_reference_sum_and_text_conditioning_train_resume_and_report_condition_gain(features, tmp_path, encoders):
    torch.set_num_threads(1)
    from livesampler.train.lm import caption_embeddings

    text = caption_embeddings(features, encoders[1])
    assert set(text) == {"sine", "bright", "hollow"} and all(v.shape[1] == 512 for v in text.values())
    cfg = small(steps=20, eval_every=10, clap_scheme="fixed", reference=True, condition_sum=True,
                text_share=0.5, condition_dropout=0.1)
    straight = LMTrainer(cfg, features, tmp_path / "a", log=lambda m: None, text_clap=text)
    assert straight.lm.cfg.reference_frames == features.frames and straight.lm.cfg.condition_sum
    history = straight.run(progress=False)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    gain, onset = history[-1]["condition_gain"], history[-1]["condition_gain_onset"]
    assert {"clap_other", "clap_null", "pitch_off", "velocity_off", "all_null", "reference_other",
            "reference_null"} <= set(gain) == set(onset)
    assert all(np.isfinite(v) for v in [*gain.values(), *onset.values()])
    LMTrainer(cfg, features, tmp_path / "b", log=lambda m: None, text_clap=text).run(progress=False, until=10)
    resumed = LMTrainer(cfg, features, tmp_path / "b", log=lambda m: None, text_clap=text)
    resumed.run(progress=False)
    for (name, a), b in zip(straight.lm.state_dict().items(), resumed.lm.state_dict().values()):
        assert torch.equal(a, b), name
    # a run with the reference also summed into the inputs starts from this one's weights where they fit
    messages = []
    grown = LMTrainer(replace(cfg, reference_sum=True, init_from=str(tmp_path / "a" / "checkpoint")), features,
                      tmp_path / "c", log=messages.append, text_clap=text)
    assert grown.lm.reference_in is not None and "started from" in messages[0]
    assert torch.equal(grown.lm.heads[0].weight, straight.lm.heads[0].weight)


def test_a_text_share_without_captions_is_refused(features, tmp_path):
    from livesampler.model import ModelError

    with pytest.raises(ModelError, match="text embeddings"):
        LMTrainer(small(text_share=0.3), features, tmp_path, log=lambda m: None)
