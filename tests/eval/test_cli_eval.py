"""The two commands as a user runs them: `eval real` on rendered notes, `eval --checkpoint` with tiny models."""

import json
from pathlib import Path

import pytest

from livesampler import cli


def run(argv: list, capsys) -> tuple[str, str]:
    cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return captured.out, captured.err


def fails(argv: list, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([str(a) for a in argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("livesampler: error: "), err
    return err


@pytest.fixture
def clap_config(tmp_path, tiny_clap) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[model]\nclap = "pocket"\nclap_path = "{tiny_clap}"\ndevice = "cpu"\n')
    return path


@pytest.mark.slow
def test_eval_real_json_on_rendered_notes(held_out_set, clap_config, capsys):
    argv = ["--config", clap_config, "eval", "real", held_out_set, "--json", "--pitches", "48-72/12"]
    out, _ = run(argv, capsys)
    result = json.loads(out)  # exactly one JSON object on stdout
    assert {"timbral_consistency", "timbral_consistency_shuffled", "pitch_accuracy"} <= set(result)
    assert result["split"] == "test" and result["instruments"] == 5 and result["notes"] == 15
    real, mixed = result["timbral_consistency"], result["timbral_consistency_shuffled"]
    for scores in (real, mixed):
        assert set(scores["cosine"]["per_instrument"]) == set(result["families"])
        assert all(-1 <= v <= 1 for v in scores["cosine"]["per_instrument"].values())
        assert scores["covariance"]["mean"] is not None
    assert set(mixed["real_above_mix"]) == {"cosine", "covariance", "instruments"}
    pitch = result["pitch_accuracy"]
    assert pitch["notes"] + pitch["unpitched"]["notes"] == 15
    assert pitch["within_50_cents"] >= 0.9  # soundfont notes are at their pitch
    assert set(pitch["per_instrument"]) == set(result["families"])
    assert result["embedded_now"] > 0

    again = json.loads(run(argv, capsys)[0])
    assert again["embedded_now"] == 0 and again["timbral_consistency"] == real  # from the cache

    summary, _ = run(["--config", clap_config, "eval", "real", held_out_set, "--pitches", "48-72/12",
                      "--max-instruments", "2", "--max-notes", "2"], capsys)
    assert "2 instruments, 4 notes" in summary and "real above its mix" in summary and "within 50 cents" in summary


def test_eval_errors_are_one_line(held_out_set, clap_config, tmp_path, capsys):
    assert "does not exist" in fails(["--config", clap_config, "eval", "real", tmp_path / "nowhere"], capsys)
    assert "no notes at the keys asked" in fails(["--config", clap_config, "eval", "real", held_out_set,
                                                  "--pitches", "100-101"], capsys)
    # the render wrote an empty train split: it has none of these instruments
    assert "train split of" in fails(["--config", clap_config, "eval", "real", held_out_set, "--split", "train"],
                                     capsys)
    assert "--pitches" in fails(["--config", clap_config, "eval", "real", held_out_set, "--pitches", "60-"], capsys)
    assert "needs --data" in fails(["--config", clap_config, "eval", "--checkpoint", tmp_path], capsys)
    (tmp_path / "empty.txt").write_text("\n  \n")
    assert "is empty" in fails(["--config", clap_config, "eval", "--data", held_out_set, "--prompts",
                                tmp_path / "empty.txt"], capsys)


@pytest.fixture
def tiny_models(tmp_path, fake_minilm) -> tuple[Path, dict]:
    from tests.model.conftest import fake_text_encoder
    from tests.model.tiny import save_tiny_models

    models = save_tiny_models(tmp_path / "models", text_encoder=fake_text_encoder)
    config = tmp_path / "config.toml"
    config.write_text("[model]\n" + "".join(f'{k} = "{v}"\n' for k, v in models.items())
                      + 'device = "cpu"\nnote_seconds = 0.4\ntop_k = 20\n')
    return config, models


@pytest.mark.slow
def test_eval_checkpoints_end_to_end(held_out_set, tiny_models, tmp_path, capsys):
    """Two checkpoints (labelled by their training scheme), text prompts from a file, the report and plots."""
    from livesampler.model.checkpoint import load_lm, save_lm

    config, models = tiny_models
    lm, saved = load_lm(models["lm_checkpoint"])
    for scheme in ("fixed", "random"):
        save_lm(tmp_path / "runs" / scheme / "checkpoint", lm, saved["codec_id"], saved["clap_id"],
                extra={"step": 7, "train": {"clap_scheme": scheme}})
    (tmp_path / "prompts.txt").write_text("bright acoustic piano\n\nwarm analog pad\ndistorted bass\n")
    out = tmp_path / "report"
    said, _ = run(["--config", config, "eval", "--checkpoint", tmp_path / "runs" / "fixed" / "checkpoint",
                   "--checkpoint", tmp_path / "runs" / "random" / "checkpoint", "--data", held_out_set,
                   "--prompts", tmp_path / "prompts.txt", "--instruments", "2", "--pitches", "48,72",
                   "-o", out], capsys)
    assert f"wrote {out / 'eval.json'}" in said
    result = json.loads((out / "eval.json").read_text())
    assert {"real", "checkpoints", "instruments", "text_prompts", "fad_reference"} <= set(result)
    assert len(result["instruments"]) == 2 and len(result["text_prompts"]) == 3
    real = result["real"]
    assert {"timbral_consistency", "timbral_consistency_shuffled", "pitch_accuracy", "fad",
            "clap_score_audio"} <= set(real)
    assert real["clap_score_text"] is None  # the prompts are not the instruments' captions
    assert [c["label"] for c in result["checkpoints"]] == ["fixed", "random"]
    for c in result["checkpoints"]:
        assert c["clap_scheme"] in ("fixed", "random") and c["step"] == 7
        for group in ("audio_prompts", "text_prompts"):
            g = c[group]
            assert {"timbral_consistency", "pitch_accuracy", "fad", "clap_score"} <= set(g)
            assert g["fad"]["clap"] >= 0 and g["fad"]["mel"] >= 0
            assert g["clap_score"]["retrieval"]["instruments"] == (2 if group == "audio_prompts" else 3)
        assert len(c["text_prompts"]["timbral_consistency"]["cosine"]["per_instrument"]) == 3
    assert (out / "pitch_error.png").stat().st_size > 1000 and (out / "consistency.png").stat().st_size > 1000
    report = (out / "report.md").read_text()
    assert "| measure | real notes | fixed | random |" in report and "warm analog pad" in report
    assert "![consistency](consistency.png)" in report and "![pitch error per key](pitch_error.png)" in report

    # captions as prompts (the default) also give the real notes' text CLAP score; a second run reuses the cache
    said, _ = run(["--config", config, "eval", "--data", held_out_set, "--instruments", "2", "--pitches", "48,72",
                   "-o", tmp_path / "captions"], capsys)
    captions = json.loads((tmp_path / "captions" / "eval.json").read_text())
    assert captions["real"]["clap_score_text"]["retrieval"]["instruments"] == 2
    assert captions["fad_reference"]["embedded_now"] == 0
    assert [c["label"] for c in captions["checkpoints"]] == ["lm"]  # no scheme recorded: the folder's name

    # a checkpoint made for another CLAP is refused before anything is generated
    save_lm(tmp_path / "other", lm, saved["codec_id"], "pocket-clap-0000000000000000")
    err = fails(["--config", config, "eval", "--checkpoint", tmp_path / "other", "--data", held_out_set,
                 "-o", tmp_path / "x"], capsys)
    assert "trained with CLAP 'pocket-clap-0000000000000000'" in err
