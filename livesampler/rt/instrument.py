"""Instruments: regions of samples, and the map from (key, velocity) to regions.

An instrument is what one program slot plays. It comes from an SFZ file, or
from a set of samples keyed by (MIDI pitch, velocity layer), which is what the
generator produces. Either way a note-on looks up ``keymap[key][velocity]``, a
tuple of region indices prepared when the instrument was built, so the audio
thread does no searching.

For a sample set, every key and velocity maps to the nearest sample: the
nearest pitch first (played at the right pitch by resampling), then the nearest
velocity layer of that pitch. So a key sounds as soon as any sample exists.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from livesampler.rt.samples import SampleBank, SampleRef
from livesampler.rt.sfz import SfzError, SfzRegion, parse_sfz
from livesampler.rt.voices import LOOP_CONTINUOUS, LOOP_SUSTAIN, NO_LOOP, ONE_SHOT

log = logging.getLogger(__name__)

VELOCITY_LAYERS = (25, 50, 75, 100, 127)  # NSynth's velocities
# The layer each MIDI velocity asks for: the nearest one, ties going up.
LAYER_OF_VELOCITY = tuple(min(VELOCITY_LAYERS, key=lambda layer: (abs(layer - v), -layer)) for v in range(128))

_LOOP_MODES = {"no_loop": NO_LOOP, "one_shot": ONE_SHOT, "loop_continuous": LOOP_CONTINUOUS, "loop_sustain": LOOP_SUSTAIN}


class InstrumentError(Exception):
    """An instrument that cannot be loaded; the message says which file or region."""


@dataclass(frozen=True)
class Region:
    sample: SampleRef
    keycenter: float  # the key (fractional: tune, transpose) at which the sample plays at its own pitch
    gain: float  # linear, from SFZ volume
    pan: float  # -1 (left) .. 1 (right)
    offset: int  # first frame to play, output frames
    end: int  # frames, exclusive
    loop_mode: int
    delay: float  # envelope times in seconds; sustain is a level 0..1
    attack: float
    hold: float
    decay: float
    sustain: float
    release: float | None  # None: the engine's default release
    veltrack: float  # -1..1, SFZ amp_veltrack / 100
    velocity_ref: int = 0  # the velocity the sample was made at; 0: gain follows velocity absolutely

    def rate(self, key: int) -> float:
        """Playback rate (before pitch bend) for ``key``."""
        return 2.0 ** ((key - self.keycenter) / 12.0) * self.sample.rate


def velocity_gain(velocity: int, veltrack: float, exponent: float, reference: int = 0) -> float:
    """Amplitude for ``velocity``: ``(v/127) ** exponent`` blended by ``veltrack``.

    With ``veltrack`` 1 (SFZ's default amp_veltrack=100) the gain is the curve
    itself; 0 ignores velocity; negative values make soft notes loud. With a
    ``reference`` velocity (a sample made at that velocity, as a generated
    velocity layer is) the gain is relative to it, so a note played at the
    layer's own velocity keeps the level it was generated with.
    """

    def curve(v: int) -> float:
        v = v if veltrack >= 0 else 128 - v
        return 1.0 - abs(veltrack) + abs(veltrack) * (v / 127.0) ** exponent

    gain = curve(velocity)
    if reference:
        gain /= max(curve(reference), 1e-6)
    return gain


def _build_keymap(choose) -> tuple:
    return tuple(tuple(choose(key, vel) for vel in range(128)) for key in range(128))


class Instrument:
    def __init__(self, name: str, regions: list[Region], keymap: tuple):
        self.name = name
        self.regions = tuple(regions)
        self.keymap = keymap  # [key][velocity] -> tuple of region indices

    def __repr__(self) -> str:
        return f"Instrument({self.name!r}, {len(self.regions)} regions)"

    @classmethod
    def from_sfz(cls, path: str | Path, bank: SampleBank) -> "Instrument":
        try:
            sfz = parse_sfz(path)
        except SfzError as e:
            raise InstrumentError(str(e)) from None
        cache: dict[tuple, SampleRef] = {}
        regions, spans = [], []
        for r in sfz.regions:
            loop_mode, loop = _loop_of(r)
            ref = cache.get((r.sample, loop))
            if ref is None:
                audio, rate = _read_sample(r)
                usable = loop
                if loop is not None and not 0 <= loop[0] < loop[1] <= audio.shape[0]:
                    log.warning("%s: loop %d..%d outside the sample's %d frames, played without loop",
                                r.source, loop[0], loop[1] - 1, audio.shape[0])
                    usable = None
                ref = cache[(r.sample, loop)] = bank.add(audio, rate, usable)
            if ref.loop_start < 0 and loop_mode in (LOOP_CONTINUOUS, LOOP_SUSTAIN):
                loop_mode = NO_LOOP
            end = ref.frames if r.end is None else min(ref.frames, round((r.end + 1) * ref.scale))
            regions.append(
                Region(
                    sample=ref,
                    keycenter=r.pitch_keycenter - r.transpose - r.tune / 100.0,
                    gain=10.0 ** (r.volume / 20.0),
                    pan=max(-1.0, min(1.0, r.pan / 100.0)),
                    offset=min(round(r.offset * ref.scale), max(end - 1, 0)),
                    end=end,
                    loop_mode=loop_mode,
                    delay=r.ampeg_delay,
                    attack=r.ampeg_attack,
                    hold=r.ampeg_hold,
                    decay=r.ampeg_decay,
                    sustain=max(0.0, min(1.0, r.ampeg_sustain / 100.0)),
                    release=r.ampeg_release,
                    veltrack=max(-1.0, min(1.0, r.amp_veltrack / 100.0)),
                )
            )
            spans.append((r.lokey, r.hikey, r.lovel, r.hivel))
        if not regions:
            raise InstrumentError(f"{path}: the SFZ file has no regions (nothing to play)")

        def choose(key, vel):
            return tuple(i for i, (lk, hk, lv, hv) in enumerate(spans) if lk <= key <= hk and lv <= vel <= hv)

        return cls(Path(path).stem, regions, _build_keymap(choose))

    @classmethod
    def from_samples(
        cls,
        name: str,
        samples: Mapping[tuple[int, int], np.ndarray],
        source_rate: float,
        bank: SampleBank,
        release: float | None = None,
    ) -> "Instrument":
        """An instrument from samples keyed by (MIDI pitch, velocity layer), played nearest-first."""
        refs = {key: bank.add(audio, source_rate) for key, audio in sorted(samples.items())}
        return cls.from_refs(name, refs, release)

    @classmethod
    def from_refs(cls, name: str, refs: Mapping[tuple[int, int], SampleRef], release: float | None = None) -> "Instrument":
        """Like ``from_samples``, for samples already in the bank. With none, every key is silent."""
        regions, where = [], {}
        for (pitch, velocity), ref in sorted(refs.items()):
            where[(pitch, velocity)] = len(regions)
            regions.append(
                Region(
                    sample=ref, keycenter=float(pitch), gain=1.0, pan=0.0, offset=0, end=ref.frames,
                    loop_mode=NO_LOOP, delay=0.0, attack=0.0, hold=0.0, decay=0.0, sustain=1.0,
                    release=release, veltrack=1.0, velocity_ref=velocity,
                )
            )
        if not regions:
            silent = ((),) * 128
            return cls(name, regions, (silent,) * 128)
        # Built with numpy, row by row: this runs each time a generated sample
        # lands, so it must take a few milliseconds, not a 128 x 128 search.
        keys = np.array(sorted(where), dtype=np.int64).reshape(-1, 2)  # [regions, (pitch, layer)]
        pitches = np.unique(keys[:, 0])
        wanted = np.arange(128)
        # The nearest pitch for every key; ties go to the lower one, so a key
        # never waits on which way to round.
        nearest = pitches[np.argmin(np.abs(pitches[None, :] - wanted[:, None]) * 2 + (pitches[None, :] > wanted[:, None]), axis=1)]
        singles = [(i,) for i in range(len(regions))]
        rows = {}
        for pitch in pitches:
            first = int(np.searchsorted(keys[:, 0], pitch))
            layers = keys[keys[:, 0] == pitch, 1]
            # The nearest layer of that pitch for every velocity; ties go to the softer one.
            choice = np.argmin(np.abs(layers[None, :] - wanted[:, None]) * 2 + (layers[None, :] > wanted[:, None]), axis=1)
            rows[int(pitch)] = tuple(singles[first + c] for c in choice.tolist())
        keymap = tuple(rows[p] for p in nearest.tolist())
        return cls(name, regions, keymap)


def _loop_of(r: SfzRegion) -> tuple[int, tuple[int, int] | None]:
    """The region's loop mode and its loop in source frames ``(start, end exclusive)``."""
    file_loop = None
    if r.loop_start is None or r.loop_end is None:
        if r.loop_mode in (None, "loop_continuous", "loop_sustain"):
            file_loop = _wav_loop(r.sample)
    start = r.loop_start if r.loop_start is not None else (file_loop[0] if file_loop else None)
    end = r.loop_end if r.loop_end is not None else (file_loop[1] if file_loop else None)
    has_loop = start is not None and end is not None and end > start
    if r.loop_mode is None:
        # SFZ: a sample with a loop loops unless the region says otherwise.
        mode = LOOP_CONTINUOUS if has_loop else NO_LOOP
    else:
        mode = _LOOP_MODES[r.loop_mode]
    if mode in (LOOP_CONTINUOUS, LOOP_SUSTAIN) and has_loop:
        return mode, (start, end + 1)  # SFZ's loop_end is the loop's last frame
    if mode in (LOOP_CONTINUOUS, LOOP_SUSTAIN):
        log.warning("%s: loop_mode %s without loop points, played without loop", r.source, r.loop_mode)
        return NO_LOOP, None
    return mode, None


def _read_sample(r: SfzRegion) -> tuple[np.ndarray, int]:
    try:
        audio, rate = soundfile.read(str(r.sample), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, OSError) as e:
        raise InstrumentError(f"{r.source}: cannot read sample {r.sample}: {e}") from None
    if audio.shape[0] == 0:
        raise InstrumentError(f"{r.source}: sample {r.sample} has no audio frames")
    if audio.shape[1] > 2:
        audio = audio[:, :2]
    return audio, rate


def _wav_loop(path: Path) -> tuple[int, int] | None:
    """The first loop of a WAV file's ``smpl`` chunk, as (start, last frame), if any."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            while True:
                chunk = f.read(8)
                if len(chunk) < 8:
                    return None
                name, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if name != b"smpl":
                    f.seek(size + (size & 1), 1)
                    continue
                body = f.read(size)
                if len(body) < 36 + 24 or struct.unpack("<I", body[28:32])[0] == 0:
                    return None
                start, end = struct.unpack("<II", body[36 + 8 : 36 + 16])
                return (start, end) if end > start else None
    except OSError:
        return None
