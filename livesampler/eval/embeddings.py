"""Embeddings of notes for the measures: the configured CLAP's, and log-mel statistics; cached per note set.

Real notes are embedded once per note set and embedding model: the vectors are
kept in ``<split folder>/embeddings/<model id>.npz`` with, for each note, its
``note_str`` and its wav's size and modification time. A later run reuses the
rows whose wav is unchanged and embeds only notes that are new or were
rewritten, so the reference statistics of FAD, the real instruments'
consistency and the shuffled mixes cost nothing the second time, and a note set
that changed is never measured with stale vectors. The model id is the CLAP's
content hash, so another CLAP gets its own file. A note set on a read-only disk
is embedded every time (with a warning), unless the commands are given
another folder for the cache (``--cache``).

``LogMelStats`` is the second embedding for FAD: no pretrained audio embedding
model with weights that ship offline is installed (VGGish, PANNs, OpenL3 all
download theirs), so FAD is also computed on a plain, weight-free description of
the spectrum: the mean and standard deviation over time of 64 log-mel bands at
16 kHz. It does not depend on how well the CLAP was trained.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from livesampler.data.nsynth import Note, read_audio

log = logging.getLogger(__name__)

BATCH = 16


class LogMelStats:
    """audio -> [mean, std] over time of 64 log-mel bands at 16 kHz: 128 numbers, no weights."""

    id = "logmel64-stats-1"
    sample_rate = 16000

    def __init__(self):
        import torchaudio

        self.mel = torchaudio.transforms.MelSpectrogram(self.sample_rate, n_fft=1024, hop_length=256, n_mels=64)

    @torch.inference_mode()
    def embed_audio(self, audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
        import torchaudio

        audio = audio.float().cpu()
        if sample_rate != self.sample_rate:
            audio = torchaudio.functional.resample(audio, sample_rate, self.sample_rate)
        logmel = torch.log(self.mel(audio) + 1e-5)  # [B, 64, frames]
        return torch.cat([logmel.mean(dim=-1), logmel.std(dim=-1)], dim=-1)


def embed_audios(encoder, audios: list[np.ndarray], sample_rate: int, progress: Callable[[int], None] | None = None
                 ) -> np.ndarray:
    """Notes at one sample rate -> [n, dim] float32; a batch is zero-padded to its longest note."""
    rows = []
    for first in range(0, len(audios), BATCH):
        chunk = audios[first:first + BATCH]
        batch = np.zeros((len(chunk), max(len(a) for a in chunk)), dtype=np.float32)
        for i, a in enumerate(chunk):
            batch[i, :len(a)] = a
        rows.append(encoder.embed_audio(torch.from_numpy(batch), sample_rate).float().cpu().numpy())
        if progress is not None:
            progress(len(chunk))
    return np.concatenate(rows) if rows else np.zeros((0, 0), dtype=np.float32)


def _stamp(note: Note) -> tuple[int, int]:
    stat = os.stat(note.path)
    return stat.st_size, stat.st_mtime_ns


class NoteEmbeddings:
    """The embeddings of a note set's notes by one model, cached in ``folder`` (None: no cache)."""

    def __init__(self, encoder, folder: Path | None):
        self.encoder = encoder
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", encoder.id)
        self.file = Path(folder) / f"{safe}.npz" if folder is not None else None
        self.embedded = 0  # notes embedded (not found in the cache) by this object
        self._rows: dict[str, tuple[tuple[int, int], np.ndarray]] = self._read()

    def _read(self) -> dict:
        if self.file is None or not self.file.is_file():
            return {}
        try:
            with np.load(self.file, allow_pickle=False) as saved:
                keys, stamps, vectors = saved["keys"], saved["stamps"], saved["vectors"]
        except (OSError, ValueError, KeyError) as e:
            log.warning("%s cannot be read (%s): the notes are embedded again", self.file, e)
            return {}
        return {str(k): ((int(s[0]), int(s[1])), v) for k, s, v in zip(keys, stamps, vectors)}

    def _write(self) -> None:
        if self.file is None:
            return
        keys = sorted(self._rows)
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            temp = self.file.parent / f".{self.file.name}.{os.getpid()}.tmp"  # renamed into place: never half a file
            with open(temp, "wb") as f:
                np.savez(f, keys=np.array(keys, dtype=str),
                         stamps=np.array([self._rows[k][0] for k in keys], dtype=np.int64).reshape(-1, 2),
                         vectors=np.stack([self._rows[k][1] for k in keys]))
            os.replace(temp, self.file)
        except OSError as e:
            log.warning("cannot cache embeddings in %s (%s): they will be computed again next time", self.file, e)
            self.file = None

    def __call__(self, notes: list[Note], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """[len(notes), dim] float32, in the order given."""
        stamps = [_stamp(n) for n in notes]
        missing = [(n, s) for n, s in zip(notes, stamps)
                   if n.note_str not in self._rows or self._rows[n.note_str][0] != s]
        by_rate: dict[int, list] = {}
        for n, s in missing:
            by_rate.setdefault(n.sample_rate, []).append((n, s))
        for rate, group in by_rate.items():
            vectors = embed_audios(self.encoder, [read_audio(n, rate) for n, _ in group], rate, progress)
            for (n, s), v in zip(group, vectors):
                self._rows[n.note_str] = (s, v.astype(np.float32))
        if missing:
            self.embedded += len(missing)
            self._write()
        if not notes:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._rows[n.note_str][1] for n in notes])


def cache_folder(split_folder: Path, root: Path | None = None) -> Path:
    """``<split folder>/embeddings``, or with ``root`` (a note set on a read-only disk) a folder in it
    named after the split and its path's hash, so that several note sets can share ``root``."""
    if root is None:
        return Path(split_folder) / "embeddings"
    resolved = Path(split_folder).resolve()
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:8]
    return Path(root) / f"{resolved.parent.name}-{resolved.name}-{digest}"
