"""Pitch accuracy: the fundamental of each note against the pitch that was asked for.

The fundamental is found with librosa's pYIN, which needs no weights (CREPE
would need a download; pYIN is enough for clean single notes). For each note:

- the audio is resampled to 16 kHz (NSynth's rate), or to 48 kHz for notes
  asked above 1 kHz, where a period is a few samples at 16 kHz and YIN's lag
  grid is too coarse (20-40 cents off, and subharmonic errors, on pure tones),
  and cut to its sustained part, 0.1-1.1 s: after the attack's transient, and
  early enough that decaying instruments (piano, guitar, mallets) still sound;
- pYIN searches 1.5 octaves either side of the asked pitch (so that octave
  errors can be found, and nothing further away wins by chance), below 0.42
  of the analysis rate (6.7 kHz at 16 kHz);
- the note's f0 is the median over its voiced frames; a note with fewer than a
  quarter of its frames voiced has no pitch: it is *unvoiced* (noise,
  silence, a clang);
- its error in cents is ``1200 log2(f0 / f_asked)``; it is *right* within
  ±50 cents, an *octave error* within ±50 cents of ±1200.

Shares are over all notes, so an unvoiced note counts as not right.

**Unpitched families.** NSynth's families are all nominally pitched, but some
instruments in them have no clear fundamental (bells, effects under
``synth_lead``, noise). A family counts as unpitched when more than half of
its *real* notes in the evaluation are unvoiced; its notes are then reported
apart and left out of the headline numbers. The decision is taken on the real
notes and applied to the generated ones, so a model that turns a pitched family
into noise is counted wrong, not excused.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

ANALYSIS_RATE = 16000
HIGH_RATE, HIGH_FROM = 48000, 1000.0  # notes asked above HIGH_FROM Hz are analysed at HIGH_RATE
SUSTAIN = (0.1, 1.1)  # seconds of the note analysed
SEARCH_OCTAVES = 1.5
HOP_SECONDS = 0.016
MIN_VOICED = 0.25  # share of voiced frames for a note to have a pitch
RIGHT_CENTS = 50.0
OCTAVE_CENTS = 1200.0
UNPITCHED_SHARE = 0.5  # a family whose real notes are unvoiced more often than this is unpitched


def midi_hz(pitch: float) -> float:
    return 440.0 * 2 ** ((pitch - 69) / 12)


@dataclass(frozen=True)
class NotePitch:
    pitch: int  # asked for
    f0: float | None  # Hz; None when the note is unvoiced
    voiced: float  # share of frames pYIN found voiced

    @property
    def cents(self) -> float | None:
        return None if self.f0 is None else 1200 * math.log2(self.f0 / midi_hz(self.pitch))

    @property
    def right(self) -> bool:
        return self.f0 is not None and abs(self.cents) <= RIGHT_CENTS

    @property
    def octave_error(self) -> bool:
        return self.f0 is not None and abs(abs(self.cents) - OCTAVE_CENTS) <= RIGHT_CENTS

    @property
    def unvoiced(self) -> bool:
        return self.f0 is None


def analyse(audio: np.ndarray, sample_rate: int, pitch: int) -> NotePitch:
    """The fundamental of one note asked at MIDI ``pitch`` (see the module's text)."""
    import librosa

    target = midi_hz(pitch)
    rate = HIGH_RATE if target > HIGH_FROM else ANALYSIS_RATE
    audio = np.asarray(audio, dtype=np.float32)
    if sample_rate != rate:
        import soxr

        audio = soxr.resample(audio, sample_rate, rate)
    segment = audio[int(SUSTAIN[0] * rate):int(SUSTAIN[1] * rate)]
    fmax = min(target * 2 ** SEARCH_OCTAVES, 0.42 * rate)  # 0.42: clear of the resampler's band edge
    fmin = min(max(target / 2 ** SEARCH_OCTAVES, 20.0), fmax / 2)
    frame = 1024
    while frame < 4 * rate / fmin:  # a few periods of the lowest f0 searched
        frame *= 2
    if len(segment) < frame:
        segment = np.pad(segment, (0, frame - len(segment)))
    if not np.any(segment):
        return NotePitch(pitch, None, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa warns on near-silent frames; they simply come out unvoiced
        f0, voiced, _ = librosa.pyin(segment, fmin=fmin, fmax=fmax, sr=rate, frame_length=frame,
                                     hop_length=round(HOP_SECONDS * rate), center=False)
    share = float(np.mean(voiced)) if len(voiced) else 0.0
    if share < MIN_VOICED:
        return NotePitch(pitch, None, share)
    return NotePitch(pitch, float(np.median(f0[voiced])), share)


def _numbers(results: list[NotePitch]) -> dict:
    if not results:
        return {"notes": 0, "within_50_cents": None, "octave_errors": None, "unvoiced": None,
                "median_abs_cents": None}
    voiced = [abs(r.cents) for r in results if not r.unvoiced]
    return {"notes": len(results),
            "within_50_cents": float(np.mean([r.right for r in results])),
            "octave_errors": float(np.mean([r.octave_error for r in results])),
            "unvoiced": float(np.mean([r.unvoiced for r in results])),
            "median_abs_cents": float(np.median(voiced)) if voiced else None}


def unpitched_families(results: list[NotePitch], families: list[str]) -> set[str]:
    """Families more than half of whose (real) notes are unvoiced."""
    by_family: dict[str, list[bool]] = {}
    for r, family in zip(results, families):
        by_family.setdefault(family, []).append(r.unvoiced)
    return {f for f, unvoiced in by_family.items() if np.mean(unvoiced) > UNPITCHED_SHARE}


def summarise(results: list[NotePitch], families: list[str], instruments: list[str],
              unpitched: set[str] | None = None) -> dict:
    """Headline numbers over the pitched families' notes, the unpitched ones apart, per family, key and instrument.

    ``unpitched``: the families to report apart; None decides from these results
    (right for real notes; generated notes take the real notes' decision).
    """
    if unpitched is None:
        unpitched = unpitched_families(results, families)
    pitched = [r for r, f in zip(results, families) if f not in unpitched]
    apart = [r for r, f in zip(results, families) if f in unpitched]
    per_family, per_key, per_instrument = {}, {}, {}
    for r, family, name in zip(results, families, instruments):
        per_family.setdefault(family, []).append(r)
        per_instrument.setdefault(name, []).append(r)
        if family not in unpitched:
            per_key.setdefault(r.pitch, []).append(r)
    return {**_numbers(pitched),
            "unpitched_families": sorted(unpitched),
            "unpitched": _numbers(apart),
            "families": {f: {**_numbers(rs), "pitched": f not in unpitched} for f, rs in sorted(per_family.items())},
            "per_key": {str(p): _numbers(rs) for p, rs in sorted(per_key.items())},
            "per_instrument": {name: _numbers(rs)["within_50_cents"] for name, rs in per_instrument.items()}}
