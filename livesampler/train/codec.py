"""``livesampler train codec``: fit the pocket harmonic-plus-noise codec to a note set.

The note set is in NSynth's layout: ``DIR/examples.json`` maps each note's name
to its fields (``pitch``, ``velocity``, ``instrument_str``, ...), and
``DIR/audio/<name>.wav`` holds its audio. Only what the fit needs is read here:
the audio and the pitch.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile

from livesampler.model import ModelError
from livesampler.model.hnc import HarmonicNoiseCodec, HncConfig, fit_hnc


class NoteSetError(ModelError):
    """A note set that cannot be read; the message says which file and why."""


def note_names(data: str | Path, max_notes: int | None = None) -> tuple[dict, list[str]]:
    """-> (examples.json's contents, the names to use: sorted, spread evenly when ``max_notes`` is fewer)."""
    data = Path(data)
    index = data / "examples.json"
    if not index.is_file():
        raise NoteSetError(f"{data} is not a note set: expected {index} and {data / 'audio'}/<note>.wav (NSynth layout)")
    try:
        examples = json.loads(index.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise NoteSetError(f"{index} is not JSON ({e})") from None
    if not isinstance(examples, dict) or not all(isinstance(v, dict) and "pitch" in v for v in examples.values()):
        raise NoteSetError(f"{index}: expected an object of notes, each with a \"pitch\" (NSynth's examples.json)")
    names = sorted(examples)
    if max_notes is not None and max_notes < len(names):
        # every instrument's notes sit together when sorted: spread the choice over all of them
        names = [names[i] for i in np.linspace(0, len(names) - 1, max_notes).round().astype(int)]
    return examples, names


def read_notes(data: str | Path, max_notes: int | None = None) -> Iterator[tuple[np.ndarray, int, int]]:
    """(mono float32 audio, sample rate, MIDI pitch) per note, in name order."""
    examples, names = note_names(data, max_notes)
    for name in names:
        path = Path(data) / "audio" / f"{name}.wav"
        try:
            audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
        except (soundfile.LibsndfileError, RuntimeError, OSError) as e:
            raise NoteSetError(f"note {name}: cannot read {path} ({str(e).splitlines()[0][:100]})") from None
        yield audio.mean(axis=1), rate, int(examples[name]["pitch"])


def train_codec(data: str | Path, output: str | Path, max_notes: int | None = None,
                cfg: HncConfig = HncConfig(), log=print) -> HarmonicNoiseCodec:
    """Fit the codec to the notes under ``data`` and write its model folder to ``output``."""
    started = time.perf_counter()
    codec = fit_hnc(read_notes(data, max_notes), cfg, log=log)
    extra = {"data": str(Path(data).resolve()), "max_notes": max_notes,
             "seconds": round(time.perf_counter() - started, 1)}
    codec.save(output, extra=extra)
    log(f"wrote {output}: codec {codec.id} ({cfg.num_codebooks} codebooks of {cfg.codebook_size}, "
        f"{codec.frame_rate:g} frames/s)")
    return codec
