"""``livesampler train codec``: fit the pocket harmonic-plus-noise codec to a note set.

The notes are read with the NSynth reader (``data/nsynth.py``): ``--data`` is a
note set (its train split is fitted) or one split folder. Only the audio and the
pitch of each note matter to the fit.
"""

from __future__ import annotations

import time
from pathlib import Path

from livesampler.data import DatasetError
from livesampler.data.nsynth import Note, read_audio, read_dataset, read_split, spread
from livesampler.model.hnc import HarmonicNoiseCodec, HncConfig, fit_hnc


def fit_notes(data: str | Path, max_notes: int | None = None) -> list[Note]:
    """The notes to fit on, in name order; when ``max_notes`` is fewer, spread evenly over them."""
    data = Path(data)
    notes = read_split(data) if (data / "examples.json").is_file() else read_dataset(data).get("train", [])
    if not notes:
        raise DatasetError(f"{data}: no notes to fit the codec on (give a note set with a train split, or a split "
                           "folder)")
    return spread(sorted(notes, key=lambda n: n.note_str), max_notes)


def train_codec(data: str | Path, output: str | Path, max_notes: int | None = None,
                cfg: HncConfig = HncConfig(), log=print) -> HarmonicNoiseCodec:
    """Fit the codec to the notes under ``data`` and write its model folder to ``output``."""
    started = time.perf_counter()
    notes = fit_notes(data, max_notes)
    log(f"fitting the codec on {len(notes)} notes of {len({n.instrument_str for n in notes})} instruments")
    codec = fit_hnc(((read_audio(n, n.sample_rate), n.sample_rate, n.pitch) for n in notes), cfg, log=log)
    extra = {"data": str(Path(data).resolve()), "notes": len(notes),
             "seconds": round(time.perf_counter() - started, 1)}
    codec.save(output, extra=extra)
    log(f"wrote {output}: codec {codec.id} ({cfg.num_codebooks} codebooks of {cfg.codebook_size}, "
        f"{codec.frame_rate:g} frames/s)")
    return codec
