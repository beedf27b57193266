"""Render a General MIDI soundfont into NSynth's format, so that ``nsynth.py`` reads it like NSynth.

Every melodic program of bank 0 that has an NSynth family (``gm.py``), at every
pitch asked where it really sounds, at NSynth's five velocities: the key held
3 s and released for 1 s, 4 s in all, mono, 16 kHz by default, written as
16-bit wavs. The output folder is::

    OUT/nsynth-train/examples.json   OUT/nsynth-train/audio/<note_str>.wav
    OUT/nsynth-valid/...             OUT/nsynth-test/...

An instrument is one program of one font, ``instrument_str`` is
``<font>_<program:03d>_<preset name>`` (lower case, runs of other characters
turned into "_"), and ``note_str`` is ``<instrument_str>-<pitch:03d>-<velocity:03d>``
as in NSynth. Instruments, never notes, are split 80/10/10 into train, valid and
test by a hash of ``instrument_str``: no instrument is in two splits, and an
instrument stays in its split when more fonts or programs are rendered later.
``qualities`` are all 0: NSynth's were labelled by listeners, and rendering
cannot know them.

FluidSynth renders through pyfluidsynth (ctypes over libfluidsynth), with no
audio driver: about 3 ms per note written. Its reverb and chorus are off, so notes are
dry like NSynth's, and every voice is cut before the next note, so no note
carries the tail of the one before. A note that is silent (a pitch outside the
samples of a program), clipped, or has samples that are not numbers is skipped
and counted by reason.

A run can be stopped and run again: a note whose wav exists and is whole is not
rendered again. Wavs are written under a temporary name and renamed, and the
examples.json files are rewritten the same way every ``FLUSH_SECONDS`` and at
the end, so a stopped run leaves nothing half written.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
import re
import time
import wave
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile

from livesampler.data import DatasetError
from livesampler.data.gm import nsynth_labels
from livesampler.data.nsynth import FAMILIES, QUALITIES, SOURCES, Note
from livesampler.rt.native import silenced_stderr

log = logging.getLogger(__name__)

HELD_SECONDS = 3.0  # key down, then released
NOTE_SECONDS = 4.0  # held + 1 s of release, as NSynth
PITCHES = range(21, 109)  # the piano's keys, the model's pitch range
VELOCITIES = (25, 50, 75, 100, 127)  # NSynth's
SAMPLE_RATE = 16000  # NSynth's
SAMPLE_RATES = (8000, 96000)  # what FluidSynth accepts
# FluidSynth's master gain (its own default is 0.2). At 0.7 the loudest notes of
# FluidR3_GM (velocity 127) peak near -4 dBFS, so that quiet ones keep as many
# bits as they can in 16-bit wavs (TimGM6mb's piano peaks near -45 dBFS at
# velocity 25: FluidSynth's velocity curve spans about 28 dB from 25 to 127).
# One gain for all notes keeps velocities' loudness apart, as in NSynth.
GAIN = 0.7
SILENT_DB = -70.0  # a note whose peak stays below this (dBFS) is silent
CLIP_LEVEL = 0.999  # a peak at full scale means FluidSynth's output was clipped
SKIP_REASONS = {
    "silent": f"peak below {SILENT_DB:.0f} dBFS: the program has no sample there",
    "clipped": "peak at full scale",
    "broken": "samples that are not numbers",
}
SPLITS = (("train", 80), ("valid", 10), ("test", 10))  # shares of instruments, in percent
FLUSH_SECONDS = 30.0  # examples.json rewritten at least this often during a run


def slug(text: str) -> str:
    """A name safe in file names and without "-" (note_str splits on it): "Str.Ensemble 1" -> "str_ensemble_1"."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "unnamed"


def instrument_name(font: str | Path, program: int, preset: str) -> str:
    return f"{slug(Path(font).stem)}_{program:03d}_{slug(preset)}"


def split_of(instrument_str: str) -> str:
    """The split an instrument belongs to: a hash of its name, so the same on every machine and run."""
    share = int(hashlib.sha256(instrument_str.encode()).hexdigest()[:8], 16) % 100
    for split, percent in SPLITS:
        if share < percent:
            return split
        share -= percent
    raise AssertionError("SPLITS must add up to 100")


def note_problem(audio: np.ndarray) -> str | None:
    """The key of SKIP_REASONS that rules ``audio`` out, or None for a usable note."""
    if not np.isfinite(audio).all():
        return "broken"
    peak = float(np.abs(audio).max())
    if peak >= CLIP_LEVEL:
        return "clipped"
    if peak < 10 ** (SILENT_DB / 20):
        return "silent"
    return None


# FluidSynth prints its errors on stderr itself; they are taken here instead, so
# that a bad font gives our one-line error with FluidSynth's reason in it.
_fluid_messages: list[str] = []
_LOG_CALLBACK_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)


def _fluid_log(level: int, message: bytes, data) -> None:
    text = message.decode("utf-8", "replace") if message else ""
    _fluid_messages.append(text)
    del _fluid_messages[:-20]
    log.debug("fluidsynth: %s", text)


_log_callback = _LOG_CALLBACK_TYPE(_fluid_log)  # kept alive: FluidSynth holds the pointer


class SoundfontSynth:
    """One FluidSynth synthesizer with one soundfont loaded; renders dry notes as float32 mono."""

    def __init__(self, font: str | Path, sample_rate: int):
        try:
            import fluidsynth
        except ImportError as e:  # pyfluidsynth raises it when libfluidsynth is not found
            raise DatasetError(f"cannot use FluidSynth ({e}; Debian/Ubuntu: apt-get install libfluidsynth3)") from None
        font = Path(font)
        if not font.is_file():
            raise DatasetError(f"soundfont {font} does not exist")
        with open(font, "rb") as f:
            header = f.read(12)
        if header[:4] != b"RIFF" or header[8:12] != b"sfbk":
            raise DatasetError(f"{font} is not a SoundFont (.sf2/.sf3 files start with RIFF....sfbk)")
        set_log = fluidsynth.cfunc("fluid_set_log_function", ctypes.c_void_p, ("level", ctypes.c_int, 1),
                                   ("fun", _LOG_CALLBACK_TYPE, 1), ("data", ctypes.c_void_p, 1))
        for level in range(4):  # panic, error, warning, info
            set_log(level, _log_callback, None)
        # fluid_synth_write_float is not wrapped by pyfluidsynth; floats show clipping that 16 bits would hide.
        self._write = fluidsynth.cfunc(
            "fluid_synth_write_float", ctypes.c_int, ("synth", ctypes.c_void_p, 1), ("len", ctypes.c_int, 1),
            ("lout", ctypes.c_void_p, 1), ("loff", ctypes.c_int, 1), ("lincr", ctypes.c_int, 1),
            ("rout", ctypes.c_void_p, 1), ("roff", ctypes.c_int, 1), ("rincr", ctypes.c_int, 1))
        self.sample_rate = sample_rate
        self.synth = fluidsynth.Synth(gain=GAIN, samplerate=sample_rate, **{
            "synth.reverb.active": 0, "synth.chorus.active": 0,  # dry notes, as NSynth's
            "synth.cpu-cores": 1})
        _fluid_messages.clear()
        # When its SoundFont loader fails, FluidSynth tries its DLS loader (libinstpatch),
        # which prints GLib warnings straight to descriptor 2; the reasons that matter
        # come through the log callback above.
        with silenced_stderr():
            self.sfid = self.synth.sfload(str(font))
        if self.sfid < 0:
            self.synth.delete()
            # The first message is the SoundFont loader's reason; the DLS loader's and a summary follow.
            reason = _fluid_messages[0] if _fluid_messages else "FluidSynth cannot load it"
            raise DatasetError(f"soundfont {font} cannot be read: {reason}")
        held = int(round(HELD_SECONDS * sample_rate))
        self._held_frames, self._frames = held, int(round(NOTE_SECONDS * sample_rate))
        self._left = np.zeros(self._frames, np.float32)
        self._right = np.zeros(self._frames, np.float32)
        self._program = None

    def preset_name(self, program: int) -> str | None:
        """The name of bank 0's ``program`` in the font, or None if the font has none."""
        return self.synth.sfpreset_name(self.sfid, 0, program)

    def render(self, program: int, pitch: int, velocity: int) -> np.ndarray:
        """One note: held HELD_SECONDS, then released until NOTE_SECONDS; float32 mono."""
        if program != self._program:
            if self.synth.program_select(0, self.sfid, 0, program) != 0:
                raise DatasetError(f"the soundfont has no preset for program {program} in bank 0")
            self._program = program
        # Cut every voice of the last note at once: the next one starts from silence.
        self.synth.all_sounds_off(0)
        self.synth.noteon(0, pitch, velocity)
        self._fill(0, self._held_frames)
        self.synth.noteoff(0, pitch)
        self._fill(self._held_frames, self._frames - self._held_frames)
        return ((self._left + self._right) * 0.5).astype(np.float32)

    def _fill(self, start: int, frames: int) -> None:
        left, right = self._left.ctypes.data + 4 * start, self._right.ctypes.data + 4 * start
        if self._write(self.synth.synth, frames, left, 0, 1, right, 0, 1) != 0:
            raise DatasetError("FluidSynth failed to render a note")

    def close(self) -> None:
        self.synth.delete()


@dataclass
class RenderReport:
    folder: Path
    rendered: int = 0  # notes rendered and written by this run
    on_disk: int = 0  # notes whose whole wav an earlier run wrote
    skipped: Counter = field(default_factory=Counter)  # SKIP_REASONS key -> notes
    skipped_programs: dict[int, str] = field(default_factory=dict)  # program -> why it was not rendered
    notes: dict[str, int] = field(default_factory=dict)  # split -> notes in its examples.json
    instruments: dict[str, int] = field(default_factory=dict)  # split -> instruments
    seconds: float = 0.0


def _whole_wav(path: Path, frames: int, sample_rate: int) -> bool:
    try:
        info = soundfile.info(str(path))
    except (OSError, soundfile.SoundFileError):
        return False
    return info.frames == frames and info.samplerate == sample_rate and info.channels == 1


def _write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    """16-bit mono, as NSynth's. The stdlib's writer: libsndfile syncs each file to disk on close,
    which took 60% of a render; the rename is what keeps a stopped run from leaving half a file."""
    temporary = path.with_name(f".{path.name}.part")
    pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(temporary), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())
    os.replace(temporary, path)


def _write_json(path: Path, table: dict) -> None:
    temporary = path.with_name(f".{path.name}.part")
    # One entry a line: valid JSON, and a diff or a grep shows whole notes.
    lines = [f"{json.dumps(key)}: {json.dumps(entry)}" for key, entry in table.items()]
    with open(temporary, "w", encoding="utf-8") as f:
        f.write("{\n" + ",\n".join(lines) + "\n}\n")
    os.replace(temporary, path)


def _read_examples(path: Path) -> dict:
    """An earlier run's entries, kept so that rendering other programs later adds to them."""
    try:
        with open(path, encoding="utf-8") as f:
            table = json.load(f)
        return table if isinstance(table, dict) else {}
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        log.warning("%s cannot be read (%s); it is written again from the wavs of this run", path, e)
        return {}


def _check_range(values, low: int, high: int, what: str) -> list[int]:
    values = list(values)
    if not values:
        raise DatasetError(f"no {what} to render")
    bad = [v for v in values if not low <= v <= high]
    if bad:
        raise DatasetError(f"{what} must be {low}-{high}, got {bad[0]}")
    return sorted(set(values))


def render_soundfont(font: str | Path, out_dir: str | Path, *, programs=range(128), pitches=PITCHES,
                     velocities=VELOCITIES, sample_rate: int = SAMPLE_RATE, progress: bool = False) -> RenderReport:
    """Render ``font`` into ``out_dir`` in NSynth's format; returns what was done.

    ``progress`` draws a progress bar on stderr (when it is a terminal).
    """
    programs = _check_range(programs, 0, 127, "programs")
    pitches = _check_range(pitches, 0, 127, "pitches")
    velocities = _check_range(velocities, 1, 127, "velocities")
    if not SAMPLE_RATES[0] <= sample_rate <= SAMPLE_RATES[1]:
        raise DatasetError(f"sample rate must be {SAMPLE_RATES[0]}-{SAMPLE_RATES[1]} Hz, got {sample_rate}")
    font, out_dir = Path(font), Path(out_dir)
    started = time.perf_counter()
    report = RenderReport(folder=out_dir)
    synth = SoundfontSynth(font, sample_rate)
    try:
        chosen = []  # (program, instrument_str, family, source)
        for program in programs:
            labels, preset = nsynth_labels(program), synth.preset_name(program)
            if labels is None:
                report.skipped_programs[program] = "no NSynth family"
            elif preset is None:
                report.skipped_programs[program] = "no preset in bank 0"
            else:
                chosen.append((program, instrument_name(font, program, preset), *labels))
        if not chosen:
            raise DatasetError(f"{font} has none of the programs asked for with an NSynth family in bank 0")
        _render_notes(synth, chosen, pitches, velocities, out_dir, report, progress)
    finally:
        synth.close()
    report.seconds = time.perf_counter() - started
    return report


def _render_notes(synth: SoundfontSynth, chosen, pitches, velocities, out_dir: Path, report: RenderReport,
                  progress: bool) -> None:
    from tqdm import tqdm

    rate = synth.sample_rate
    frames = int(round(NOTE_SECONDS * rate))
    folders = {split: out_dir / f"nsynth-{split}" for split, _ in SPLITS}
    try:
        for folder in folders.values():
            (folder / "audio").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DatasetError(f"cannot make the output folder {out_dir}: {e.strerror}") from None
    examples = {split: _read_examples(folder / "examples.json") for split, folder in folders.items()}

    def flush() -> None:
        for split, folder in folders.items():
            _write_json(folder / "examples.json", examples[split])

    bar = tqdm(total=len(chosen) * len(pitches) * len(velocities), unit="note", disable=None if progress else True)
    last_flush = time.monotonic()
    try:
        for program, instrument_str, family, source in chosen:
            split = split_of(instrument_str)
            audio_dir = folders[split] / "audio"
            bar.set_description(instrument_str)
            for pitch in pitches:
                for velocity in velocities:
                    bar.update()
                    note_str = f"{instrument_str}-{pitch:03d}-{velocity:03d}"
                    path = audio_dir / f"{note_str}.wav"
                    if _whole_wav(path, frames, rate):
                        report.on_disk += 1
                    else:
                        audio = synth.render(program, pitch, velocity)
                        problem = note_problem(audio)
                        if problem is not None:
                            report.skipped[problem] += 1
                            examples[split].pop(note_str, None)
                            continue
                        try:
                            _write_wav(path, audio, rate)
                        except OSError as e:
                            raise DatasetError(f"cannot write {path}: {e}") from None
                        report.rendered += 1
                    note = Note(note_str=note_str, pitch=pitch, velocity=velocity,
                                instrument=zlib.crc32(instrument_str.encode()), instrument_str=instrument_str,
                                instrument_family=FAMILIES.index(family), instrument_family_str=family,
                                instrument_source=SOURCES.index(source), instrument_source_str=source,
                                qualities=(0,) * len(QUALITIES), qualities_str=(), sample_rate=rate, path=path)
                    # NSynth's entries also carry "note", a number of their own.
                    examples[split][note_str] = {"note": zlib.crc32(note_str.encode()), **note.to_json()}
                    if time.monotonic() - last_flush > FLUSH_SECONDS:
                        flush()
                        last_flush = time.monotonic()
        # Entries of an earlier run whose wav has gone since would only be skipped by the reader.
        for split, folder in folders.items():
            present = {e.name for e in os.scandir(folder / "audio")}
            examples[split] = {k: v for k, v in examples[split].items() if f"{k}.wav" in present}
    finally:
        bar.close()
        flush()
    for split, table in examples.items():
        report.notes[split] = len(table)
        report.instruments[split] = len({e.get("instrument_str") for e in table.values() if isinstance(e, dict)})
