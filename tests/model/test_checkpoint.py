import json

import pytest
import torch

from livesampler.model.checkpoint import CheckpointError, load_lm, save_lm
from livesampler.model.conditions import Conditions
from livesampler.model.lm import LanguageModel

from .conftest import tiny_lm_config


def test_save_and_load(tiny_lm, tmp_path):
    save_lm(tmp_path / "lm", tiny_lm, codec_id="dac-1", clap_id="pocket-clap-2", extra={"step": 7})
    assert sorted(p.name for p in (tmp_path / "lm").iterdir()) == ["config.json", "model.safetensors"]
    lm, config = load_lm(tmp_path / "lm", codec_id="dac-1", clap_id="pocket-clap-2")
    assert lm.cfg == tiny_lm.cfg and config["extra"] == {"step": 7} and not lm.training
    inputs, c = torch.randint(0, 17, (1, 3, 5)), Conditions.make([60], [100])
    assert torch.equal(lm(inputs, c), tiny_lm(inputs, c))


def test_missing_and_wrong_files(tiny_lm, tmp_path):
    with pytest.raises(CheckpointError, match="does not exist: expected a folder with config.json"):
        load_lm(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"found \[\]"):
        load_lm(tmp_path / "empty")
    folder = save_lm(tmp_path / "lm", tiny_lm, "dac-1", "clap-1")
    (folder / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not JSON"):
        load_lm(folder)
    (folder / "config.json").write_text(json.dumps({"format": "livesampler-pocket-clap", "version": 1}))
    with pytest.raises(CheckpointError, match=r"found format/version \('livesampler-pocket-clap', 1\)"):
        load_lm(folder)
    folder = save_lm(tmp_path / "lm2", tiny_lm, "dac-1", "clap-1")
    (folder / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="safetensors cannot read"):
        load_lm(folder)


def test_weights_that_do_not_fit_the_config(tiny_lm, tmp_path):
    folder = save_lm(tmp_path / "lm", tiny_lm, "dac-1", "clap-1")
    config = json.loads((folder / "config.json").read_text())
    config["lm"]["num_layers"] = 3
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="weights do not fit .* missing, e.g. blocks.2"):
        load_lm(folder)


def test_mismatched_codec_or_clap_is_refused(tiny_lm, tmp_path):
    folder = save_lm(tmp_path / "lm", tiny_lm, codec_id="dac-aaaa", clap_id="pocket-clap-bbbb")
    with pytest.raises(CheckpointError, match="trained with codec 'dac-aaaa' but the configured codec is 'dac-cccc'"):
        load_lm(folder, codec_id="dac-cccc", clap_id="pocket-clap-bbbb")
    with pytest.raises(CheckpointError, match="trained with CLAP 'pocket-clap-bbbb' but the configured CLAP is"):
        load_lm(folder, codec_id="dac-aaaa", clap_id="laion-clap-dddd")


def test_masked_objective_survives_the_round_trip(tmp_path):
    lm = LanguageModel(tiny_lm_config(objective="masked"))
    loaded, _ = load_lm(save_lm(tmp_path / "lm", lm, "c", "d"))
    assert loaded.cfg.objective == "masked" and not loaded.causal
