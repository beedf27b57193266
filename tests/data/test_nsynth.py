"""The NSynth reader on a hand-written folder: fields, bad entries, filters, audio, errors."""

import json
import logging

import numpy as np
import pytest

from livesampler.data import DatasetError
from livesampler.data.nsynth import find_splits, read_audio, read_dataset, read_split, select
from tests.data.conftest import entry, write_split
from tests.rt.conftest import dominant_hz


def test_reads_every_good_note_with_its_fields(handmade):
    notes = read_split(handmade / "train")
    assert [n.note_str for n in notes] == ["guitar_acoustic_001-060-025", "guitar_acoustic_001-062-127",
                                           "bass_synthetic_002-040-075", "organ_electronic_003-072-100"]
    n = notes[2]
    assert (n.pitch, n.velocity, n.instrument, n.instrument_str) == (40, 75, 8, "bass_synthetic_002")
    assert (n.instrument_family, n.instrument_family_str) == (0, "bass")
    assert (n.instrument_source, n.instrument_source_str) == (2, "synthetic")
    assert n.qualities == (1, 0, 0, 0, 0, 0, 0, 0, 0, 0) and n.qualities_str == ("bright",)
    assert n.sample_rate == 16000 and n.path == handmade / "train" / "audio" / "bass_synthetic_002-040-075.wav"
    assert n.to_json() == {k: v for k, v in json.loads((handmade / "train" / "examples.json").read_text())[
        n.note_str].items() if k != "note"}


def test_malformed_entries_are_skipped_and_reported_once_with_their_keys(handmade, caplog):
    with caplog.at_level(logging.WARNING, logger="livesampler.data.nsynth"):
        notes = read_split(handmade / "train")
    assert len(notes) == 4
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert "skipped 3 malformed entries of 7" in message
    assert "guitar_acoustic_001-064-050 (audio/guitar_acoustic_001-064-050.wav does not exist)" in message
    assert "guitar_acoustic_001-065-050 (missing field 'pitch')" in message
    assert "guitar_acoustic_001-066-050 (field 'velocity' must be int" in message


@pytest.mark.parametrize("change, reason", [
    ({"pitch": True}, "field 'pitch' must be int"),
    ({"qualities": [0, 1]}, "qualities must be 10"),
    ({"instrument_family": 3, "instrument_family_str": "bass"}, "not one of NSynth's"),
    ({"note_str": "other-060-025"}, "differs from its key"),
])
def test_each_kind_of_bad_entry_is_named(tmp_path, caplog, change, reason):
    key, e = entry("guitar_acoustic_001", 60, 25)
    write_split(tmp_path / "s", {key: {**e, **change}})
    with caplog.at_level(logging.WARNING, logger="livesampler.data.nsynth"):
        assert read_split(tmp_path / "s") == []
    assert reason in caplog.text


def test_both_folder_namings_are_found(handmade, tmp_path):
    assert find_splits(handmade) == {"train": handmade / "train", "valid": handmade / "valid"}
    write_split(tmp_path / "published" / "nsynth-test", dict([entry("keyboard_acoustic_005", 60, 50, "keyboard")]))
    data = read_dataset(tmp_path / "published")
    assert list(data) == ["test"] and data["test"][0].instrument_family_str == "keyboard"


def test_filters(handmade):
    notes = read_split(handmade / "train")
    assert [n.pitch for n in select(notes, pitches=(50, 70))] == [60, 62]
    assert [n.instrument_str for n in select(notes, families=["bass", "organ"])] == ["bass_synthetic_002",
                                                                                      "organ_electronic_003"]
    assert [n.pitch for n in select(notes, sources=["acoustic"], velocities=[127])] == [62]
    assert select(notes, families=["guitar"], sources=["synthetic"]) == []
    with pytest.raises(DatasetError, match="unknown instrument family gitar"):
        select(notes, families=["gitar"])


def test_audio_is_float32_mono_and_resampled_when_asked(handmade):
    note = read_split(handmade / "valid")[0]  # A4, 440 Hz, 0.5 s at 16 kHz
    audio = read_audio(note)
    assert audio.dtype == np.float32 and audio.shape == (8000,)
    assert dominant_hz(audio, 16000) == pytest.approx(440, rel=0.005)
    resampled = read_audio(note, sample_rate=48000)
    assert resampled.dtype == np.float32 and resampled.shape == (24000,)
    assert dominant_hz(resampled, 48000) == pytest.approx(440, rel=0.005)


def test_missing_folder_or_examples_is_one_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        read_split(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="has no examples.json"):
        read_split(tmp_path)
    with pytest.raises(DatasetError, match="has no split folders"):
        find_splits(tmp_path)
    (tmp_path / "examples.json").write_text("{not json")
    with pytest.raises(DatasetError, match="cannot read"):
        read_split(tmp_path)
    (tmp_path / "examples.json").write_text("[]")
    with pytest.raises(DatasetError, match="must hold an object"):
        read_split(tmp_path)
