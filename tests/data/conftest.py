"""Note sets for the data tests: a tiny render of TimGM6mb, and a hand-written NSynth folder."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from livesampler.data.nsynth import FAMILIES, QUALITIES, SOURCES

# TimGM6mb's piano, ocarina and xylophone fall in train, valid and test (by the hash of their names);
# program 120 (guitar fret noise) has no NSynth family. Pitch 120 is above every sample of the font.
PROGRAMS = (0, 79, 13, 120)
PITCHES = (60, 69, 120)
VELOCITIES = (25, 127)


@pytest.fixture(scope="session")
def rendered(timgm_sf2, tmp_path_factory):
    """(folder, report) of a render of PROGRAMS x PITCHES x VELOCITIES at 16 kHz."""
    from livesampler.data.render import render_soundfont

    folder = tmp_path_factory.mktemp("rendered")
    report = render_soundfont(timgm_sf2, folder, programs=PROGRAMS, pitches=PITCHES, velocities=VELOCITIES)
    return folder, report


def entry(instrument_str, pitch, velocity, family="guitar", source="acoustic", rate=16000, instrument=7):
    note_str = f"{instrument_str}-{pitch:03d}-{velocity:03d}"
    qualities = [0] * len(QUALITIES)
    qualities[0] = 1
    return note_str, {
        "note": 1, "note_str": note_str, "pitch": pitch, "velocity": velocity, "instrument": instrument,
        "instrument_str": instrument_str, "instrument_family": FAMILIES.index(family),
        "instrument_family_str": family, "instrument_source": SOURCES.index(source),
        "instrument_source_str": source, "qualities": qualities, "qualities_str": [QUALITIES[0]],
        "sample_rate": rate}


def write_split(folder: Path, entries: dict, missing_wavs=(), rate=16000) -> Path:
    """examples.json and a 0.5 s sine wav at each entry's pitch (except ``missing_wavs``)."""
    (folder / "audio").mkdir(parents=True)
    for key, e in entries.items():
        if key in missing_wavs:
            continue
        pitch = e.get("pitch", 60) if isinstance(e.get("pitch"), int) else 60
        t = np.arange(rate // 2) / rate
        tone = 0.3 * np.sin(2 * np.pi * 440 * 2 ** ((pitch - 69) / 12) * t)
        soundfile.write(folder / "audio" / f"{key}.wav", tone.astype(np.float32), rate, subtype="PCM_16")
    (folder / "examples.json").write_text(json.dumps(entries))
    return folder


@pytest.fixture
def handmade(tmp_path) -> Path:
    """An NSynth-format set with train/ and valid/ (the short folder names), and three bad entries in train."""
    train = dict([entry("guitar_acoustic_001", 60, 25), entry("guitar_acoustic_001", 62, 127),
                  entry("bass_synthetic_002", 40, 75, "bass", "synthetic", instrument=8),
                  entry("organ_electronic_003", 72, 100, "organ", "electronic", instrument=9)])
    gone_key, gone = entry("guitar_acoustic_001", 64, 50)
    nopitch_key, nopitch = entry("guitar_acoustic_001", 65, 50)
    del nopitch["pitch"]
    badtype_key, badtype = entry("guitar_acoustic_001", 66, 50)
    badtype["velocity"] = "loud"
    train.update({gone_key: gone, nopitch_key: nopitch, badtype_key: badtype})
    write_split(tmp_path / "set" / "train", train, missing_wavs={gone_key})
    write_split(tmp_path / "set" / "valid", dict([entry("flute_acoustic_004", 69, 127, "flute", instrument=10)]))
    return tmp_path / "set"
