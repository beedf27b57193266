"""The pocket CLAP trainer on a small note set in NSynth's layout: loss falls, retrieval learns, resumption is exact."""

import json

import numpy as np
import pytest
import soundfile
import torch

from livesampler.cli import main
from livesampler.data.captions import caption, caption_forms
from livesampler.data.nsynth import read_split
from livesampler.model.clap import PocketClap
from livesampler.train.clap import ClapTrainConfig, ClapTrainer, contrastive_loss, matches

from tests.data.conftest import entry
from tests.model.conftest import fake_text_encoder

SR = 16000
# name (as soundfont renders name instruments) -> (family, source, waveform)
INSTRUMENTS = {
    "test_000_soft_flute": ("flute", "acoustic", "sine"),
    "test_001_buzz_lead": ("synth_lead", "synthetic", "square"),
    "test_002_bright_strings": ("string", "acoustic", "saw"),
    "test_003_wood_block": ("mallet", "acoustic", "click"),
    "test_004_hollow_reed": ("reed", "acoustic", "odd"),
    "test_005_dark_bass": ("bass", "electronic", "dull"),
}
VALID = ("test_004_hollow_reed", "test_005_dark_bass")
SMALL = dict(batch_size=4, channels=(8, 16), lr=3e-3, warmup=2, val_batches=2, val_notes_per_instrument=3)


def waveform(kind: str, pitch: int, velocity: int) -> np.ndarray:
    t = np.arange(SR) / SR
    phase = (440 * 2 ** ((pitch - 69) / 12) * t) % 1.0
    wave = {"sine": np.sin(2 * np.pi * phase), "square": np.sign(phase - 0.5), "saw": (2 * phase - 1) * np.minimum(1, t / 0.4),  # bowed: a slow swell
            "odd": np.sin(2 * np.pi * phase) + 0.5 * np.sin(6 * np.pi * phase),
            "dull": np.sin(2 * np.pi * phase) * np.exp(-8 * t),
            "click": np.random.default_rng(pitch).standard_normal(len(t)) * np.exp(-40 * t)}[kind]
    return (0.4 * velocity / 127 * wave).astype(np.float32)


@pytest.fixture(scope="module")
def note_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("notes")
    for split in ("train", "valid"):
        folder = root / f"nsynth-{split}"
        (folder / "audio").mkdir(parents=True)
        examples = {}
        for name, (family, source, kind) in INSTRUMENTS.items():
            if (name in VALID) != (split == "valid"):
                continue
            for pitch in (48, 55, 60, 67, 72):
                for velocity in (50, 100):
                    key, examples[key] = entry(name, pitch, velocity, family=family, source=source)
                    examples[key]["qualities"], examples[key]["qualities_str"] = [0] * 10, []
                    soundfile.write(folder / "audio" / f"{key}.wav", waveform(kind, pitch, velocity), SR)
        (folder / "examples.json").write_text(json.dumps(examples))
    return root


def test_a_caption_matches_every_note_it_describes(note_set):
    notes = read_split(note_set / "nsynth-train")
    flute = next(n for n in notes if n.instrument_str == "test_000_soft_flute")
    lead = next(n for n in notes if n.instrument_str == "test_001_buzz_lead")
    assert "soft flute, acoustic flute" in caption_forms(flute) and "flute" in caption_forms(flute)
    match = matches(["flute", "synth lead", "an acoustic flute"], [flute, lead])
    assert match.tolist() == [[1, 0, 1], [0, 1, 0]]
    # a perfect, confident match has a loss near 0; two captions that fit one note share its target
    assert float(contrastive_loss(torch.eye(3), torch.eye(3), torch.eye(3), torch.tensor(4.6))) < 0.01
    both = torch.tensor([[1.0, 1, 0], [1, 1, 0], [0, 0, 1]])
    text = torch.nn.functional.normalize(torch.tensor([[1.0, 0, 0], [1, 0, 0], [0, 0, 1]]), dim=1)
    assert float(contrastive_loss(text, text, both, torch.tensor(4.6))) == pytest.approx(2 / 3 * np.log(2), abs=1e-3)


def test_loss_falls_and_retrieval_learns(note_set, tmp_path):
    cfg = ClapTrainConfig(steps=40, eval_every=40, **SMALL)
    trainer = ClapTrainer(cfg, note_set, tmp_path, text_encoder=fake_text_encoder, log=lambda *a: None)
    losses = [trainer.train_step()["loss"] for _ in range(cfg.steps)]
    assert np.mean(losses[-8:]) < 0.7 * np.mean(losses[:8])
    # each training instrument's caption now finds that instrument's notes (the stand-in text
    # encoder has no meaning to carry over, so the held-out figures are only checked to be there)
    trainer.model.eval()
    with torch.no_grad():
        names = sorted(trainer.train_set)
        audio = torch.stack([trainer.model.audio_embedding(trainer.audio_of(trainer.train_set[n]), SR).mean(0)
                             for n in names])
        text = trainer.text_of([caption(trainer.train_set[n][0]) for n in names])
    assert (text @ audio.T).argmax(1).tolist() == list(range(len(names)))
    assert set(trainer.validate()) >= {"val_loss", "val_mean_rank", "val_recall_at_1", "val_family_accuracy"}


def test_resumption_is_exact_and_the_checkpoint_loads(note_set, tmp_path):
    quiet = dict(text_encoder=fake_text_encoder, log=lambda *a: None)
    cfg = ClapTrainConfig(steps=6, eval_every=3, **SMALL)
    straight = ClapTrainer(cfg, note_set, tmp_path / "straight", **quiet)
    straight.run(progress=False)
    stopped = ClapTrainer(cfg, note_set, tmp_path / "stopped", **quiet)
    stopped.run(progress=False, until=3)
    resumed = ClapTrainer(cfg, note_set, tmp_path / "stopped", **quiet)
    assert resumed.step == 3
    resumed.run(progress=False)
    for name, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name
    assert [h["step"] for h in resumed.history] == [3, 6]

    loaded = PocketClap.load(tmp_path / "straight" / "checkpoint", text_encoder=fake_text_encoder)
    audio = torch.from_numpy(waveform("saw", 60, 100))[None]
    assert torch.allclose(loaded.embed_audio(audio, SR), straight.model.eval().embed_audio(audio, SR), atol=1e-5)
    saved = json.loads((tmp_path / "straight" / "checkpoint" / "config.json").read_text())
    assert saved["extra"]["step"] == 6 and saved["config"]["channels"] == [8, 16]


def test_train_clap_command_errors(note_set, tmp_path, capsys):
    for args, message in ((["--data", str(tmp_path / "nothing")], "does not exist"),
                          (["--data", str(note_set), "--channels", "8,x"], "--channels must be widths"),
                          (["--data", str(note_set / "nsynth-valid")], "no split folders")):
        with pytest.raises(SystemExit) as exit:
            main(["train", "clap", "-o", str(tmp_path / "out"), *args])
        assert exit.value.code != 0
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
