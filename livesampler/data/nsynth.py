"""NSynth as published: ``examples.json`` plus ``audio/<note_str>.wav``, one folder per split.

A split folder (``nsynth-train/``, or ``train/``) holds::

    examples.json      {note_str: {"note_str", "pitch", "velocity", "instrument", ...}}
    audio/<note_str>.wav

and a data set is a folder of split folders. Notes rendered from soundfonts
(``render.py``) are written the same way, so this one reader serves both.

A data set of 300,000 notes made by people has a few bad entries; one of them
must not stop a training run. So an entry with a missing field, a wrong type or
no wav is skipped, and all the skipped ones are reported in one warning that
names them. A folder or ``examples.json`` that is missing or unreadable is a
``DatasetError``: then nothing can be read at all.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from livesampler.data import DatasetError

log = logging.getLogger(__name__)

# Ids are positions, as in NSynth's examples.json.
FAMILIES = ("bass", "brass", "flute", "guitar", "keyboard", "mallet", "organ", "reed", "string", "synth_lead",
            "vocal")
SOURCES = ("acoustic", "electronic", "synthetic")
QUALITIES = ("bright", "dark", "distortion", "fast_decay", "long_release", "multiphonic", "nonlinear_env",
             "percussive", "reverb", "tempo-synced")
SPLITS = ("train", "valid", "test")
REPORTED_KEYS = 10  # malformed entries named in the warning; the count covers all of them


@dataclass(frozen=True)
class Note:
    """One four-second note: an entry of ``examples.json`` and the path of its wav."""

    note_str: str  # "<instrument_str>-<pitch:03d>-<velocity:03d>", also the wav's name
    pitch: int  # MIDI 0-127
    velocity: int  # NSynth uses 25, 50, 75, 100, 127
    instrument: int
    instrument_str: str
    instrument_family: int  # index into FAMILIES
    instrument_family_str: str
    instrument_source: int  # index into SOURCES
    instrument_source_str: str
    qualities: tuple[int, ...]  # 0/1 per QUALITIES
    qualities_str: tuple[str, ...]
    sample_rate: int
    path: Path

    def to_json(self) -> dict:
        """The entry as NSynth's examples.json writes it (the path is implied by the key)."""
        entry = {name: getattr(self, name) for name in _FIELDS}
        entry["qualities"], entry["qualities_str"] = list(self.qualities), list(self.qualities_str)
        return entry


# Field name -> the JSON type it must have; bool is refused where int is asked (json reads true as a bool).
_FIELDS = {"note_str": str, "pitch": int, "velocity": int, "instrument": int, "instrument_str": str,
           "instrument_family": int, "instrument_family_str": str, "instrument_source": int,
           "instrument_source_str": str, "qualities": list, "qualities_str": list, "sample_rate": int}


def _problem(key: str, entry, audio_names: set[str]) -> str | None:
    """Why ``entry`` cannot be used, or None."""
    if not isinstance(entry, dict):
        return f"an entry must be an object, got {type(entry).__name__}"
    for name, tp in _FIELDS.items():
        if name not in entry:
            return f"missing field '{name}'"
        value = entry[name]
        if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
            return f"field '{name}' must be {tp.__name__}, got {value!r}"
    if entry["note_str"] != key:
        return f"note_str {entry['note_str']!r} differs from its key"
    if not 0 <= entry["pitch"] <= 127 or not 0 <= entry["velocity"] <= 127:
        return "pitch and velocity must be 0-127"
    if entry["sample_rate"] <= 0:
        return "sample_rate must be positive"
    family, source = entry["instrument_family"], entry["instrument_source"]
    if not 0 <= family < len(FAMILIES) or FAMILIES[family] != entry["instrument_family_str"]:
        return f"family {family} / {entry['instrument_family_str']!r} is not one of NSynth's"
    if not 0 <= source < len(SOURCES) or SOURCES[source] != entry["instrument_source_str"]:
        return f"source {source} / {entry['instrument_source_str']!r} is not one of NSynth's"
    qualities = entry["qualities"]
    if len(qualities) != len(QUALITIES) or any(q not in (0, 1) or isinstance(q, bool) for q in qualities):
        return f"qualities must be {len(QUALITIES)} zeros and ones"
    if not all(isinstance(q, str) for q in entry["qualities_str"]):
        return "qualities_str must be a list of strings"
    if key + ".wav" not in audio_names:
        return f"audio/{key}.wav does not exist"
    return None


def read_split(folder: str | Path) -> list[Note]:
    """The notes of one split folder, in examples.json's order; malformed entries skipped and reported."""
    folder = Path(folder)
    examples = folder / "examples.json"
    if not folder.is_dir():
        raise DatasetError(f"note set folder {folder} does not exist")
    try:
        with open(examples, encoding="utf-8") as f:
            table = json.load(f)
    except FileNotFoundError:
        raise DatasetError(f"{folder} has no examples.json (not an NSynth split folder)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DatasetError(f"cannot read {examples}: {e}") from None
    if not isinstance(table, dict):
        raise DatasetError(f"{examples} must hold an object keyed by note_str, got {type(table).__name__}")
    audio = folder / "audio"
    # One listing instead of a stat per note: NSynth's train split has 289,205 wavs.
    audio_names = {e.name for e in os.scandir(audio)} if audio.is_dir() else set()
    notes, bad = [], []
    for key, entry in table.items():
        problem = _problem(key, entry, audio_names)
        if problem is not None:
            bad.append(f"{key} ({problem})")
            continue
        values = {name: entry[name] for name in _FIELDS}
        values["qualities"], values["qualities_str"] = tuple(entry["qualities"]), tuple(entry["qualities_str"])
        notes.append(Note(**values, path=audio / f"{key}.wav"))
    if bad:
        more = f", and {len(bad) - REPORTED_KEYS} more" if len(bad) > REPORTED_KEYS else ""
        log.warning("%s: skipped %d malformed entries of %d: %s%s", examples, len(bad), len(table),
                    "; ".join(bad[:REPORTED_KEYS]), more)
    return notes


def find_splits(root: str | Path) -> dict[str, Path]:
    """``{"train": folder, ...}`` for the split folders under ``root`` (``nsynth-train`` or ``train``)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"note set folder {root} does not exist")
    found = {}
    for split in SPLITS:
        for name in (f"nsynth-{split}", split):
            if (root / name / "examples.json").is_file():
                found[split] = root / name
                break
    if not found:
        raise DatasetError(f"{root} has no split folders (nsynth-train/, train/, ... each with examples.json)")
    return found


def read_dataset(root: str | Path) -> dict[str, list[Note]]:
    """Every split under ``root``: ``{"train": [...], "valid": [...], "test": [...]}`` (those that exist)."""
    return {split: read_split(folder) for split, folder in find_splits(root).items()}


def select(notes: list[Note], *, pitches: tuple[int, int] | None = None, families=None, sources=None,
           velocities=None) -> list[Note]:
    """The notes that pass every filter given.

    ``pitches`` is an inclusive (low, high) range; ``families`` and ``sources``
    are names ("guitar", "acoustic"); ``velocities`` a set of values. A name
    NSynth does not have is an error, so that a typo does not select nothing.
    """
    for names, known, what in ((families, FAMILIES, "family"), (sources, SOURCES, "source")):
        unknown = sorted(set(names or ()) - set(known))
        if unknown:
            raise DatasetError(f"unknown instrument {what} {', '.join(unknown)} (NSynth has {', '.join(known)})")
    families = set(families) if families is not None else None
    sources = set(sources) if sources is not None else None
    velocities = set(velocities) if velocities is not None else None
    return [n for n in notes
            if (pitches is None or pitches[0] <= n.pitch <= pitches[1])
            and (families is None or n.instrument_family_str in families)
            and (sources is None or n.instrument_source_str in sources)
            and (velocities is None or n.velocity in velocities)]


def spread(items: list, count: int | None) -> list:
    """``count`` of ``items`` spread evenly over them, in their order (all when ``count`` is None or more).

    Over notes sorted by name (instrument, pitch, velocity) this keeps every
    instrument and walks through its pitches and velocities in turn.
    """
    if count is None or count >= len(items):
        return list(items)
    return [items[i] for i in np.linspace(0, len(items) - 1, count).round().astype(int)]


def reference_order(pitch: int, velocity: int) -> tuple[int, int, int]:
    """Sort key of an instrument's notes, first = the note that stands for the instrument.

    The note nearest middle C (pitch 60), then nearest velocity 100, then the
    lower pitch: the ``fixed`` CLAP scheme conditions every note of an instrument
    on this one's embedding, and evaluation prompts with it.
    """
    return abs(pitch - 60), abs(velocity - 100), pitch


def read_audio(note: Note, sample_rate: int | None = None) -> np.ndarray:
    """The note's audio as float32 mono, resampled to ``sample_rate`` if given and different."""
    try:
        audio, rate = soundfile.read(note.path, dtype="float32", always_2d=True)
    except (OSError, soundfile.SoundFileError) as e:
        raise DatasetError(f"cannot read {note.path}: {e}") from None
    audio = audio.mean(axis=1) if audio.shape[1] > 1 else audio[:, 0]
    if sample_rate is not None and sample_rate != rate:
        import soxr

        audio = soxr.resample(audio, rate, sample_rate, quality="HQ").astype(np.float32, copy=False)
    return np.ascontiguousarray(audio)
