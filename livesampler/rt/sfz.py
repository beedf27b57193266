"""Read the subset of SFZ that sample libraries converted from soundfonts use.

SFZ is a plain-text instrument format: ``<header>`` lines open sections and
``opcode=value`` pairs fill them.  This module turns a file into a flat list of
:class:`SfzRegion` objects, one per playable ``<region>``, with every inherited
opcode already applied, so the instrument loader never deals with SFZ syntax.

Supported
---------
* Headers ``<control>``, ``<global>``, ``<master>``, ``<group>`` and ``<region>``.
  A region sees the opcodes of the enclosing levels, the nearer level winning:
  region > group > master > global.  A header starts a new scope for its level
  *and every level below it*: a new ``<group>`` forgets the previous group's
  opcodes, a new ``<master>`` forgets the previous master's and group's, and so
  on.  ``<control>`` only carries ``default_path``.
* Other headers (``<curve>``, ``<effect>``, ``<midi>``, ``<sample>``...) are
  skipped with everything in them, and reported as ``"<name>"`` among the
  ignored opcodes.
* Comments: ``// to end of line`` and ``/* blocks */`` (which may span lines).
* Preprocessor: ``#define $NAME value`` (substituted in all later lines,
  included files too) and ``#include "file.sfz"`` (relative to the including
  file).
* Values run until the next ``name=`` token, the next header or the end of the
  line, so ``sample=Grand Piano C4.wav lokey=60`` works.  Sample paths may use
  ``/`` or ``\\`` and are resolved against the SFZ file's folder joined with
  ``default_path`` (also for regions in included files, as in other SFZ
  players); if the exact path is missing, a case-insensitive match is
  tried, because libraries made on Windows or macOS often disagree with their
  own file names in case.
* Opcodes read into :class:`SfzRegion`: ``sample``, ``lokey``, ``hikey``,
  ``key`` (shorthand for lokey = hikey = pitch_keycenter), ``pitch_keycenter``,
  ``lovel``, ``hivel``, ``tune``, ``transpose``, ``volume``, ``pan``,
  ``offset``, ``end``, ``loop_mode``, ``loop_start``, ``loop_end`` (and the old
  spellings ``loopmode``, ``loopstart``, ``loopend``), ``ampeg_delay``,
  ``ampeg_attack``, ``ampeg_hold``, ``ampeg_decay``, ``ampeg_sustain``,
  ``ampeg_release``, ``amp_veltrack``.  Keys may be MIDI numbers or note names
  (``c4`` = 60, ``c#4`` = ``db4`` = 61).

Every other opcode (filters, LFOs, pitch/filter envelopes, effects, CC
modulation...) is collected, logged once per file as a warning and returned in
:attr:`SfzFile.ignored_opcodes`; it never makes parsing fail.

Defaults are the SFZ specification's, so an :class:`SfzRegion` is always
complete, with three exceptions that mean "not given": ``end`` is None (play
to the end of the sample), ``loop_mode`` is None (the loader uses the sample
file's own loop if it has one, else ``no_loop``) and ``loop_start`` /
``loop_end`` are None (use the sample file's loop points).  SFZ's ``end`` and
``loop_end`` are the *last* frame played / looped, i.e. inclusive.

One leniency: ``lovel=0`` is accepted and read as 1.  Some tools write it, and
velocity 0 is a note-off in MIDI anyway, so it cannot change what plays.

Everything that would make a region play wrongly or not at all raises
:class:`SfzError` with a one-line message naming ``file:line``.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

log = logging.getLogger(__name__)

__all__ = ["SfzError", "SfzRegion", "SfzFile", "parse_sfz", "note_number", "LOOP_MODES"]

LOOP_MODES = ("no_loop", "one_shot", "loop_continuous", "loop_sustain")


class SfzError(Exception):
    """An SFZ file that cannot be played as written; the message says where and why."""


@dataclass(frozen=True)
class SfzRegion:
    """One playable region with all inherited opcodes applied.

    Units are SFZ's: tune in cents, transpose in semitones, volume in dB, pan
    -100 (left) .. 100 (right), offset/end/loop points in sample frames (end
    and loop_end inclusive), envelope times in seconds, ampeg_sustain and
    amp_veltrack in percent.
    """

    sample: Path
    lokey: int
    hikey: int
    pitch_keycenter: int
    lovel: int
    hivel: int
    tune: float
    transpose: int
    volume: float
    pan: float
    offset: int
    end: int | None
    loop_mode: str | None
    loop_start: int | None
    loop_end: int | None
    ampeg_delay: float
    ampeg_attack: float
    ampeg_hold: float
    ampeg_decay: float
    ampeg_sustain: float
    ampeg_release: float
    amp_veltrack: float
    source: str  # "file.sfz:LINE" of the <region> header, for error messages


@dataclass(frozen=True)
class SfzFile:
    path: Path
    regions: tuple[SfzRegion, ...]
    # Sorted names of opcodes this module does not use, plus "<header>" for
    # skipped sections.  Playing the file without them is an approximation.
    ignored_opcodes: tuple[str, ...]


# --------------------------------------------------------------------------
# Note names

_NOTE_RE = re.compile(r"([a-g])([#b]?)(-?\d+)", re.IGNORECASE)
_SEMITONE = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}


def note_number(text: str) -> int:
    """MIDI note number of ``"60"``, ``"c4"``, ``"C#4"`` or ``"db4"`` (middle C = c4 = 60).

    Raises ValueError for anything else.  The range is not checked here:
    callers know whether -1 or 130 is acceptable for their opcode.
    """
    s = text.strip()
    try:
        return int(s)
    except ValueError:
        pass
    m = _NOTE_RE.fullmatch(s)
    if not m:
        raise ValueError(f"not a MIDI note number or note name: {text!r}")
    letter, accidental, octave = m.groups()
    shift = {"#": 1, "b": -1, "B": -1}.get(accidental, 0)
    return 12 * (int(octave) + 1) + _SEMITONE[letter.lower()] + shift


# --------------------------------------------------------------------------
# Opcode value types.  Each converter takes the raw text and returns the typed
# value or raises ValueError with the reason; the parser adds the location.

def _number(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise ValueError("must be a number") from None
    if not math.isfinite(v):
        raise ValueError("must be a finite number")
    return v


def _integer(text: str) -> int:
    # Some tools write "9338.0"; a fractional frame or semitone is a mistake.
    try:
        return int(text)
    except ValueError:
        v = _number(text)
        if not v.is_integer():
            raise ValueError("must be a whole number") from None
        return int(v)


def _ranged(conv: Callable[[str], Any], lo: float | None, hi: float | None) -> Callable[[str], Any]:
    def check(text: str) -> Any:
        v = conv(text)
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            span = f"{lo}..{hi}" if hi is not None else f">= {lo}"
            raise ValueError(f"must be in {span}")
        return v
    return check


def _key(text: str) -> int:
    try:
        v = note_number(text)
    except ValueError:
        raise ValueError("must be a MIDI note number or a note name like c#4") from None
    if not 0 <= v <= 127:
        raise ValueError("must be a MIDI note in 0..127")
    return v


def _keycenter(text: str) -> int:
    # The spec allows centres outside the keyboard for very low/high samples.
    try:
        v = note_number(text)
    except ValueError:
        raise ValueError("must be a MIDI note number or a note name like c#4") from None
    if not -127 <= v <= 127:
        raise ValueError("must be in -127..127")
    return v


_velocity_or_zero = _ranged(_integer, 0, 127)


def _lovel(text: str) -> int:
    v = _velocity_or_zero(text)
    return max(v, 1)  # velocity 0 is note-off: lovel=0 plays exactly like lovel=1


def _loop_mode(text: str) -> str:
    if text not in LOOP_MODES:
        raise ValueError("must be one of " + ", ".join(LOOP_MODES))
    return text


def _sample(text: str) -> str:
    if not text:
        raise ValueError("is empty")
    if text.startswith("*"):
        # sfizz/ARIA built-in oscillators (*sine, *noise, *silence...).
        raise ValueError("is a built-in generator, which this sampler cannot play; remove the region")
    return text


_seconds = _ranged(_number, 0, None)
_frames = _ranged(_integer, 0, None)

_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "sample": _sample,
    "lokey": _key,
    "hikey": _key,
    "key": _key,
    "pitch_keycenter": _keycenter,
    "lovel": _lovel,
    "hivel": _ranged(_integer, 1, 127),
    "tune": _number,
    "transpose": _ranged(_integer, -127, 127),
    "volume": _number,
    "pan": _ranged(_number, -100, 100),
    "offset": _frames,
    "end": _frames,
    "loop_mode": _loop_mode,
    "loop_start": _frames,
    "loop_end": _frames,
    "ampeg_delay": _seconds,
    "ampeg_attack": _seconds,
    "ampeg_hold": _seconds,
    "ampeg_decay": _seconds,
    "ampeg_sustain": _ranged(_number, 0, 100),
    "ampeg_release": _seconds,
    "amp_veltrack": _ranged(_number, -100, 100),
}

_ALIASES = {"loopmode": "loop_mode", "loopstart": "loop_start", "loopend": "loop_end"}

_DEFAULTS: dict[str, Any] = {
    "lokey": 0, "hikey": 127, "pitch_keycenter": 60, "lovel": 1, "hivel": 127,
    "tune": 0.0, "transpose": 0, "volume": 0.0, "pan": 0.0, "offset": 0, "end": None,
    "loop_mode": None, "loop_start": None, "loop_end": None,
    "ampeg_delay": 0.0, "ampeg_attack": 0.0, "ampeg_hold": 0.0, "ampeg_decay": 0.0,
    "ampeg_sustain": 100.0, "ampeg_release": 0.001, "amp_veltrack": 100.0,
}

# Levels from outermost to innermost; a header clears its own level and all
# deeper ones.
_LEVELS = ("control", "global", "master", "group", "region")


# --------------------------------------------------------------------------
# Preprocessing: comments, #define, #include -> (file, line number, text)

def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Older libraries are often Windows-1252/Latin-1; every byte decodes.
        text = data.decode("latin-1")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _strip_comments(text: str, path: Path) -> str:
    """Blank out comments, keeping newlines so line numbers stay true."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                line = text.count("\n", 0, i) + 1
                raise SfzError(f"{path}:{line}: comment '/*' is never closed; add '*/'")
            out.append("\n" * text.count("\n", i, j))
            i = j + 2
        else:
            j1, j2 = text.find("//", i), text.find("/*", i)
            j = min(x for x in (j1, j2, n) if x >= 0)
            out.append(text[i:j])
            i = j
    return "".join(out)


_DEFINE_RE = re.compile(r"#define\s+(\$[A-Za-z0-9_]+)\s+(.+)")
_INCLUDE_RE = re.compile(r'#include\s+"([^"]+)"')


def _lines(path: Path, defines: dict[str, str], stack: tuple[Path, ...]) -> Iterator[tuple[Path, int, str]]:
    text = _strip_comments(_read_text(path), path)
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip()
        if stripped.startswith("#"):
            where = f"{path}:{number}"
            if stripped.startswith("#define"):
                m = _DEFINE_RE.fullmatch(stripped)
                if not m:
                    raise SfzError(f"{where}: write #define as '#define $NAME value'")
                defines[m.group(1)] = m.group(2).strip()
            elif stripped.startswith("#include"):
                m = _INCLUDE_RE.fullmatch(stripped)
                if not m:
                    raise SfzError(f'{where}: write #include as \'#include "file.sfz"\'')
                target = path.parent / _expand(m.group(1), defines).replace("\\", "/")
                if not target.is_file():
                    raise SfzError(f"{where}: #include file not found: {target}")
                if target.resolve() in stack:
                    raise SfzError(f"{where}: #include of {target} includes itself; remove the cycle")
                yield from _lines(target, defines, stack + (target.resolve(),))
            else:
                raise SfzError(f"{where}: unsupported directive {stripped.split()[0]!r} "
                               "(only #define and #include are understood)")
            continue
        if "$" in line:
            line = _expand(line, defines)
        yield path, number, line


def _expand(text: str, defines: dict[str, str]) -> str:
    # Longest names first so that $AB is not read as $A followed by "B".
    for name in sorted(defines, key=len, reverse=True):
        text = text.replace(name, defines[name])
    return text


# --------------------------------------------------------------------------
# Tokenising one line into headers and opcodes

_HEADER_RE = re.compile(r"<([A-Za-z_][A-Za-z0-9_]*)>")
_OPCODE_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=")
# A value ends where the next "name=" or "<header" starts.  Spaces inside a
# value are kept: sample paths contain them.
_VALUE_END_RE = re.compile(r"\s+(?=[A-Za-z_][A-Za-z0-9_]*=)|\s*(?=<[A-Za-z_])")


def _tokens(line: str, where: str) -> Iterator[tuple[str, str, str | None]]:
    """Yield ("header", name, None) and ("opcode", name, value) in line order."""
    i, n = 0, len(line)
    while True:
        while i < n and line[i].isspace():
            i += 1
        if i >= n:
            return
        if line[i] == "<":
            m = _HEADER_RE.match(line, i)
            if not m:
                word = line[i:].split()[0]
                raise SfzError(f"{where}: header {word!r} is not closed or has no name; write it as <name>")
            yield "header", m.group(1).lower(), None
            i = m.end()
            continue
        m = _OPCODE_RE.match(line, i)
        if not m:
            word = line[i:].split()[0]
            raise SfzError(f"{where}: cannot read {word!r}; expected opcode=value or a <header>")
        start = m.end()
        end_m = _VALUE_END_RE.search(line, start)
        stop = end_m.start() if end_m else n
        yield "opcode", m.group(1), line[start:stop].strip()
        i = stop


# --------------------------------------------------------------------------
# Parsing

def parse_sfz(path: str | Path, check_samples: bool = True) -> SfzFile:
    """Parse an SFZ file into regions with inherited opcodes applied.

    With ``check_samples`` (the default) every region's sample must exist; the
    returned paths are then the files found (possibly differing in case from
    what the SFZ says).  Without it, paths are only computed, not checked.
    """
    path = Path(path)
    if not path.is_file():
        raise SfzError(f"SFZ file not found: {path}; check the path")

    levels: dict[str, dict[str, Any]] = {name: {} for name in _LEVELS}
    current: str | None = None        # level whose opcodes we are collecting
    skipping = False                  # inside an unsupported header
    region_at: str | None = None      # location of the open <region> header
    region_source = ""
    regions: list[SfzRegion] = []
    ignored: set[str] = set()
    defines: dict[str, str] = {}

    def close_region() -> None:
        nonlocal region_at
        if region_at is not None:
            regions.append(_build_region(levels, path.parent, region_at, region_source, check_samples))
            region_at = None

    for file, number, line in _lines(path, defines, (path.resolve(),)):
        where = f"{file}:{number}"
        for kind, name, value in _tokens(line, where):
            if kind == "header":
                close_region()
                if name in levels:
                    current, skipping = name, False
                    for level in _LEVELS[_LEVELS.index(name):]:
                        levels[level] = {}
                    if name == "region":
                        region_at, region_source = where, f"{file.name}:{number}"
                else:
                    current, skipping = None, True
                    ignored.add(f"<{name}>")
                continue

            assert value is not None
            if skipping:
                continue
            if current is None:
                raise SfzError(f"{where}: opcode {name!r} comes before any header; "
                               "put it under <global>, <group> or <region>")
            if current == "control":
                if name == "default_path":
                    levels["control"][name] = value.replace("\\", "/")
                else:
                    ignored.add(name)
                continue
            name = _ALIASES.get(name, name)
            conv = _CONVERTERS.get(name)
            if conv is None:
                ignored.add(name)
                continue
            try:
                typed = conv(value)
            except ValueError as e:
                raise SfzError(f"{where}: {name}={value!r} {e}") from None
            target = levels[current]
            if name == "key":
                target["lokey"] = target["hikey"] = target["pitch_keycenter"] = typed
            else:
                target[name] = typed
    close_region()

    names = tuple(sorted(ignored))
    if names:
        log.warning("%s: ignoring %d unsupported SFZ opcode(s): %s", path, len(names), ", ".join(names))
    return SfzFile(path=path, regions=tuple(regions), ignored_opcodes=names)


def _build_region(levels: dict[str, dict[str, Any]], folder: Path, where: str, source: str,
                  check_samples: bool) -> SfzRegion:
    merged = dict(_DEFAULTS)
    for level in ("global", "master", "group", "region"):
        merged.update(levels[level])

    sample = merged.pop("sample", None)
    if sample is None:
        raise SfzError(f"{where}: <region> has no sample=; add one here or in its <group>")
    base = folder / levels["control"].get("default_path", "")
    wanted = base / sample.replace("\\", "/")
    if check_samples:
        found = _find_file(wanted)
        if found is None:
            raise SfzError(f"{where}: sample of this <region> not found: {wanted}")
        wanted = found

    if merged["lokey"] > merged["hikey"]:
        raise SfzError(f"{where}: lokey={merged['lokey']} is above hikey={merged['hikey']}; swap them")
    if merged["lovel"] > merged["hivel"]:
        raise SfzError(f"{where}: lovel={merged['lovel']} is above hivel={merged['hivel']}; swap them")
    ls, le = merged["loop_start"], merged["loop_end"]
    if ls is not None and le is not None and ls > le:
        raise SfzError(f"{where}: loop_start={ls} is after loop_end={le}")

    return SfzRegion(sample=wanted, source=source, **merged)


def _find_file(path: Path) -> Path | None:
    """``path`` if it is a file, else a file whose name differs only in case."""
    if path.is_file():
        return path
    found = _match_case(path)
    return found if found is not None and found.is_file() else None


def _match_case(path: Path) -> Path | None:
    if path.exists():
        return path
    if path.parent == path:
        return None
    parent = _match_case(path.parent)
    if parent is None or not parent.is_dir():
        return None
    if path.name in ("", ".", ".."):
        candidate = parent / path.name
        return candidate if candidate.exists() else None
    want = path.name.casefold()
    for child in parent.iterdir():
        if child.name.casefold() == want:
            return child
    return None
