"""What the language model trains on: codec codes and CLAP audio embeddings of every note, on disk.

A features folder holds

    index.json  the codec and CLAP ids, the note length in frames, and one entry per
                note (key, pitch, velocity, instrument, family, source, split)
    codes.npy   int16 [notes, codebooks, frames], memory-mapped
    clap.npy    float16 [notes, 512], memory-mapped
    done.npy    bool [notes]: which rows are written

Rows are written a batch at a time and marked done after, so an interrupted
``prepare`` goes on where it stopped; notes added to the note set later are
appended. A folder made with another codec or CLAP is refused, not mixed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

FORMAT, VERSION = "livesampler-features", 1
CLAP_DIM = 512


class FeatureError(Exception):
    """A features folder that cannot be used; the message says what to do."""


@dataclass(frozen=True)
class NoteInfo:
    key: str  # NSynth's note_str
    pitch: int
    velocity: int
    instrument: str
    family: int  # index into NSynth's families, -1 for none
    source: int  # index into NSynth's sources, -1 for none
    split: str  # train, valid or test


class Features:
    """An opened features folder (read-only memory maps)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        index = _read_index(self.folder)
        if index is None:
            raise FeatureError(f"{self.folder} holds no features: make them with `livesampler dataset prepare`")
        self.codec_id: str = index["codec_id"]
        self.clap_id: str = index["clap_id"]
        self.num_codebooks: int = index["num_codebooks"]
        self.codebook_size: int = index["codebook_size"]
        self.frames: int = index["frames"]
        self.notes = [NoteInfo(**n) for n in index["notes"]]
        self.codes = np.load(self.folder / "codes.npy", mmap_mode="r")
        self.clap = np.load(self.folder / "clap.npy", mmap_mode="r")
        self.done = np.load(self.folder / "done.npy")
        if self.codes.shape[0] != len(self.notes) or self.clap.shape[0] != len(self.notes):
            raise FeatureError(f"{self.folder}: the arrays and index.json disagree; run `dataset prepare` again")

    def rows(self, split: str) -> np.ndarray:
        """Indices of the finished notes of ``split``."""
        return np.array([i for i, n in enumerate(self.notes) if n.split == split and self.done[i]], dtype=np.int64)


SPLITS = {"train": "train", "valid": "valid", "test": "test",
          "nsynth-train": "train", "nsynth-valid": "valid", "nsynth-test": "test"}


def note_set(folder: str | Path) -> tuple[list[NoteInfo], dict]:
    """The notes of a note set in NSynth's layout, and each note's reader entry (``nsynth.Note``) by key.

    ``folder`` is one split (``examples.json`` + ``audio/``; its name says which split,
    anything else counts as train) or holds split folders (train/valid/test or
    nsynth-train/-valid/-test). Malformed entries are reported and left out by the reader.
    """
    from livesampler.data.nsynth import find_splits, read_split

    folder = Path(folder)
    if (folder / "examples.json").is_file():
        splits = {SPLITS.get(folder.name, "train"): folder}
    else:
        splits = find_splits(folder)
    notes, found = [], {}
    for split, path in splits.items():
        for n in read_split(path):
            notes.append(NoteInfo(key=n.note_str, pitch=n.pitch, velocity=n.velocity, instrument=n.instrument_str,
                                  family=n.instrument_family, source=n.instrument_source, split=split))
            found[n.note_str] = n
    return notes, found


def _read_index(folder: Path) -> dict | None:
    try:
        index = json.loads((folder / "index.json").read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise FeatureError(f"{folder / 'index.json'} is unreadable ({e}); delete the folder and prepare again") from None
    if index.get("format") != FORMAT or index.get("version") != VERSION:
        raise FeatureError(f"{folder} holds features of another format; delete it and prepare again")
    return index


def _write_json(path: Path, data: dict) -> None:
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(json.dumps(data))
    os.replace(temp, path)


def _grow(path: Path, shape: tuple[int, ...], dtype) -> np.memmap:
    """A memory-mapped .npy of ``shape``, keeping the rows an older, shorter file had."""
    old = np.load(path, mmap_mode="r") if path.exists() else None
    if old is not None and old.shape == shape:
        return np.load(path, mmap_mode="r+")
    temp = path.with_name(path.stem + ".tmp.npy")
    new = np.lib.format.open_memmap(temp, mode="w+", dtype=dtype, shape=shape)
    if old is not None:
        new[: old.shape[0]] = old
    new.flush()
    del new, old
    os.replace(temp, path)
    return np.load(path, mmap_mode="r+")


def prepare(notes: Sequence[NoteInfo], load_audio: Callable[[NoteInfo], tuple[np.ndarray, int]], folder: str | Path,
            codec, clap, note_seconds: float = 4.0, batch_size: int = 16,
            progress: Callable[[int], None] | None = None) -> int:
    """Encode every note not yet in ``folder``; returns how many were encoded now.

    ``codec`` and ``clap`` are the model package's encoders (``encode``,
    ``embed_audio``, ``id``); they run on whatever device they are on.
    """
    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    frames = codec.num_frames(note_seconds)
    index = _read_index(folder)
    if index is not None and (index["codec_id"], index["clap_id"]) != (codec.id, clap.id):
        raise FeatureError(f"{folder} was prepared with codec {index['codec_id']} and CLAP {index['clap_id']}, "
                           f"not {codec.id} and {clap.id}: give another output folder")
    known = [NoteInfo(**n) for n in index["notes"]] if index else []
    seen = {n.key for n in known}
    listed = known + [n for n in notes if n.key not in seen]
    count, K = len(listed), codec.num_codebooks
    codes = _grow(folder / "codes.npy", (count, K, frames), np.int16)
    embeddings = _grow(folder / "clap.npy", (count, CLAP_DIM), np.float16)
    done = np.zeros(count, dtype=bool)
    if (folder / "done.npy").exists():
        old = np.load(folder / "done.npy")
        done[: old.shape[0]] = old
    _write_json(folder / "index.json", {
        "format": FORMAT, "version": VERSION, "codec_id": codec.id, "clap_id": clap.id, "num_codebooks": K,
        "codebook_size": codec.codebook_size, "frames": frames, "sample_rate": codec.sample_rate, "note_seconds": note_seconds,
        "notes": [asdict(n) for n in listed],
    })
    todo = np.flatnonzero(~done)
    length = int(round(note_seconds * codec.sample_rate))
    for start in range(0, len(todo), batch_size):
        rows = todo[start:start + batch_size]
        batch = []
        for i in rows:
            audio, rate = load_audio(listed[i])
            audio = torch.as_tensor(np.asarray(audio, dtype=np.float32).reshape(-1))
            if rate != codec.sample_rate:
                import torchaudio

                audio = torchaudio.functional.resample(audio, rate, codec.sample_rate)
            batch.append(torch.nn.functional.pad(audio[:length], (0, max(0, length - audio.shape[0]))))
        audio = torch.stack(batch)  # [B, N] at the codec's rate
        pitches = torch.tensor([listed[i].pitch for i in rows])
        coded = codec.encode(audio, pitch=pitches)[:, :, :frames].cpu()  # the pocket codec analyses at the pitch
        if coded.shape[2] < frames:  # a codec that rounds the other way: repeat the last frame
            coded = torch.cat([coded, coded[:, :, -1:].expand(-1, -1, frames - coded.shape[2])], dim=2)
        codes[rows] = coded.numpy().astype(np.int16)
        embeddings[rows] = clap.embed_audio(audio, codec.sample_rate).cpu().numpy().astype(np.float16)
        codes.flush()
        embeddings.flush()
        done[rows] = True
        np.save(folder / "done.tmp.npy", done)
        os.replace(folder / "done.tmp.npy", folder / "done.npy")
        if progress is not None:
            progress(len(rows))
    np.save(folder / "done.tmp.npy", done)
    os.replace(folder / "done.tmp.npy", folder / "done.npy")
    return len(todo)
