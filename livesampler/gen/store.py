"""The sample cache on disk: one folder per instrument, one file per note.

    cache/<instrument id>/manifest.json     prompt, settings, model ids, notes
    cache/<instrument id>/p060_v100.wav     pitch 60, velocity layer 100

Each note is a standard 32-bit float WAV file that any audio program opens,
with one extra chunk (``lsmp``) holding a JSON header: format version, pitch,
layer, instrument id and the SHA-256 of the audio data. A truncated or damaged
file fails that check when read, and is removed so that it is made again.

Every write goes to a hidden temporary file in the same folder and is renamed
into place, so readers (this host or another one sharing the folder) see a
whole file or none. The notes that exist are the files that exist; the
manifest's list is a convenience for people, rewritten from the folder's
listing, so two hosts racing to rewrite it cannot lose a note.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import struct
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livesampler.gen.spec import InstrumentSpec, NoteKey

log = logging.getLogger(__name__)

FORMAT = 1  # of both the note files and the manifest; a reader refuses other versions
MANIFEST = "manifest.json"
_NOTE_NAME = re.compile(r"^p(\d{3})_v(\d{3})\.wav$")
_STALE_TEMP_SECONDS = 3600.0  # a temp file this old belongs to a writer that died


class CacheEntryError(Exception):
    """A cache file that is damaged, truncated or of another format."""


def note_name(key: NoteKey) -> str:
    return f"p{key[0]:03d}_v{key[1]:03d}.wav"


def _write_atomic(path: Path, data: bytes) -> None:
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise


def encode_note(audio: np.ndarray, sample_rate: int, key: NoteKey, instrument_id: str) -> bytes:
    """A WAV file (IEEE float, mono or stereo) with the checksum chunk."""
    audio = np.ascontiguousarray(audio, dtype="<f4")
    channels = 1 if audio.ndim == 1 else audio.shape[1]
    data = audio.tobytes()
    header = json.dumps({
        "format": FORMAT, "pitch": key[0], "velocity": key[1], "instrument": instrument_id,
        "sha256": hashlib.sha256(data).hexdigest(),
    }).encode()
    if len(header) % 2:
        header += b" "  # RIFF chunks are word aligned
    fmt = struct.pack("<HHIIHH", 3, channels, sample_rate, sample_rate * channels * 4, channels * 4, 32)
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
            + b"lsmp" + struct.pack("<I", len(header)) + header
            + b"data" + struct.pack("<I", len(data)) + data)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def decode_note(blob: bytes, key: NoteKey | None = None) -> tuple[np.ndarray, int]:
    """``(audio [frames] or [frames, channels] float32, sample_rate)``; CacheEntryError if not whole."""
    if len(blob) < 12 or blob[:4] != b"RIFF" or blob[8:12] != b"WAVE":
        raise CacheEntryError("not a WAV file")
    if struct.unpack_from("<I", blob, 4)[0] != len(blob) - 8:
        raise CacheEntryError(f"truncated ({len(blob)} bytes, the header says {struct.unpack_from('<I', blob, 4)[0] + 8})")
    chunks, at = {}, 12
    while at + 8 <= len(blob):
        tag, size = blob[at:at + 4], struct.unpack_from("<I", blob, at + 4)[0]
        chunks[tag] = blob[at + 8:at + 8 + size]
        at += 8 + size + (size & 1)
    if not {b"fmt ", b"lsmp", b"data"} <= chunks.keys():
        raise CacheEntryError("a chunk is missing")
    try:
        header = json.loads(chunks[b"lsmp"])
    except ValueError:
        raise CacheEntryError("unreadable header") from None
    if header.get("format") != FORMAT:
        raise CacheEntryError(f"format {header.get('format')}, this version reads {FORMAT}")
    if key is not None and (header.get("pitch"), header.get("velocity")) != tuple(key):
        raise CacheEntryError(f"holds pitch {header.get('pitch')} velocity {header.get('velocity')}")
    data = chunks[b"data"]
    if hashlib.sha256(data).hexdigest() != header.get("sha256"):
        raise CacheEntryError("checksum mismatch")
    code, channels, sample_rate = struct.unpack_from("<HHI", chunks[b"fmt "])
    if code != 3 or channels not in (1, 2):
        raise CacheEntryError("not float32 mono or stereo")
    audio = np.frombuffer(data, "<f4").astype(np.float32)
    return (audio if channels == 1 else audio.reshape(-1, 2)), sample_rate


@dataclass(frozen=True)
class CachedInstrument:
    id: str
    folder: Path
    manifest: dict  # {} when the manifest is missing or unreadable
    notes: tuple[NoteKey, ...]
    bytes: int

    @property
    def name(self) -> str:
        return self.manifest.get("name") or self.manifest.get("prompt") or self.id


class SampleStore:
    """The cache folder. Safe to share between processes and hosts."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def folder(self, instrument_id: str) -> Path:
        return self.root / instrument_id

    def open(self, spec: InstrumentSpec, sample_rate: int) -> Path:
        """Make the instrument's folder and manifest if they do not exist; returns the folder."""
        folder = self.folder(spec.id)
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / MANIFEST).is_file():
            self._write_manifest(spec.id, {
                "format": FORMAT, "id": spec.id, "name": spec.name, "reference": spec.reference,
                **spec.identity(), "sample_rate": sample_rate, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            })
        self._sweep_temps(folder)
        return folder

    def write(self, instrument_id: str, key: NoteKey, audio: np.ndarray, sample_rate: int) -> Path:
        path = self.folder(instrument_id) / note_name(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(path, encode_note(audio, sample_rate, key, instrument_id))
        return path

    def read(self, instrument_id: str, key: NoteKey) -> tuple[np.ndarray, int]:
        """The note's audio; CacheEntryError (naming the file) if it is damaged, FileNotFoundError if absent."""
        path = self.folder(instrument_id) / note_name(key)
        blob = path.read_bytes()
        try:
            return decode_note(blob, key)
        except CacheEntryError as e:
            raise CacheEntryError(f"{path}: {e}") from None

    def discard(self, instrument_id: str, key: NoteKey) -> None:
        (self.folder(instrument_id) / note_name(key)).unlink(missing_ok=True)  # another host may have got there first

    def notes(self, instrument_id: str) -> list[NoteKey]:
        """The notes whose files exist (not yet checked: reading checks)."""
        folder = self.folder(instrument_id)
        if not folder.is_dir():
            return []
        found = []
        for entry in os.scandir(folder):
            m = _NOTE_NAME.match(entry.name)
            if m:
                found.append((int(m.group(1)), int(m.group(2))))
        return sorted(found)

    def update_manifest(self, instrument_id: str) -> None:
        """Rewrite the manifest's list of notes from the folder's listing."""
        manifest = self._read_manifest(self.folder(instrument_id))
        if manifest:
            manifest["notes"] = [list(k) for k in self.notes(instrument_id)]
            self._write_manifest(instrument_id, manifest)

    def instruments(self) -> list[CachedInstrument]:
        if not self.root.is_dir():
            return []
        found = []
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
            found.append(CachedInstrument(folder.name, folder, self._read_manifest(folder),
                                          tuple(self.notes(folder.name)), size))
        return found

    def takes(self, spec: InstrumentSpec) -> dict[int, int]:
        """The takes of ``spec`` on disk: seed -> notes made, for every instrument that differs from it
        in its seed alone (the same prompt or reference sound, model files and sampling settings)."""
        if not self.root.is_dir():
            return {}
        wanted = {k: v for k, v in spec.identity().items() if k != "seed"}
        canonical = json.dumps(wanted, sort_keys=True)
        found = {}
        for folder in self.root.iterdir():
            manifest = self._read_manifest(folder) if folder.is_dir() else {}
            if not isinstance(manifest.get("seed"), int):
                continue
            if json.dumps({k: manifest.get(k) for k in wanted}, sort_keys=True) == canonical:
                found[manifest["seed"]] = len(self.notes(folder.name))
        return dict(sorted(found.items()))

    def find(self, prefix: str) -> CachedInstrument:
        """The one instrument whose id starts with ``prefix``; KeyError says why not."""
        matches = [i for i in self.instruments() if i.id.startswith(prefix)]
        if len(matches) != 1:
            known = ", ".join(i.id[:8] for i in self.instruments()) or "none"
            what = "no instrument" if not matches else f"{len(matches)} instruments"
            raise KeyError(f"{what} in {self.root} with an id starting '{prefix}' (ids: {known})")
        return matches[0]

    def remove(self, instrument_id: str) -> None:
        shutil.rmtree(self.folder(instrument_id), ignore_errors=True)

    def _read_manifest(self, folder: Path) -> dict:
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return manifest if isinstance(manifest, dict) and manifest.get("format") == FORMAT else {}

    def _write_manifest(self, instrument_id: str, manifest: dict) -> None:
        _write_atomic(self.folder(instrument_id) / MANIFEST, json.dumps(manifest, indent=1).encode())

    def _sweep_temps(self, folder: Path) -> None:
        cutoff = time.time() - _STALE_TEMP_SECONDS
        for entry in os.scandir(folder):
            if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                try:
                    if entry.stat().st_mtime < cutoff:
                        os.unlink(entry.path)
                except FileNotFoundError:
                    pass
