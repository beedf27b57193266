"""Set lists: the generated instruments of a gig, one per program slot, in a TOML file.

    # livesampler set: [[slot]] N is program N.
    format = 1

    [[slot]]
    prompt = "warm analog pad"
    seed = 0
    id = "3f2a9c0d1e..."          # the instrument it made when saved

    [[slot]]
    reference = "sounds/kalimba.wav"   # relative to this file's folder
    seed = 2

Each slot names a text prompt or a reference sound (not both) and a seed (its
take; default ``model.seed``). The model files and sampling settings are
config.toml's: the same set with other models makes other sounds, which the
optional ``id`` (written when a session saves the set) lets the host notice and
say. ``play --set FILE`` plays a set, ``prepare FILE`` makes all of its notes
ahead, and ``:save FILE`` on the prompt line writes the session's slots.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from livesampler.gen.spec import InstrumentSpec

FORMAT = 1
MAX_SLOTS = 128  # MIDI program numbers
_SLOT_KEYS = ("prompt", "reference", "seed", "id")


class SetError(Exception):
    """A set file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class SetSlot:
    prompt: str = ""
    reference: str = ""  # a path, resolved against the set file's folder
    seed: int | None = None  # None: config's model.seed
    id: str = ""  # the instrument id when the set was saved; "" if not known

    def spec(self, source, default_seed: int) -> InstrumentSpec:
        """The instrument this slot makes with ``source`` (a ``gen.model.ModelSource``); ValueError if it cannot."""
        seed = default_seed if self.seed is None else self.seed
        return source.spec(self.prompt, self.reference, seed)


def load_set(path: str | Path) -> list[SetSlot]:
    """The slots of a set file, in program order; SetError, in one line naming the file, if it is not usable."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SetError(f"set file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SetError(f"cannot read set file {path}: {getattr(e, 'strerror', None) or e}") from None
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SetError(f"set file {path} is not valid TOML: {e}") from None
    unknown = sorted(set(table) - {"format", "slot"})
    if unknown:
        raise SetError(f"set file {path}: unknown key '{unknown[0]}' (a set has format and [[slot]] tables)")
    if table.get("format", FORMAT) != FORMAT:
        raise SetError(f"set file {path} is of format {table['format']!r}; this version reads format {FORMAT}")
    rows = table.get("slot")
    if not rows:
        raise SetError(f"set file {path} has no [[slot]] (nothing to play): see the README's \"Sets\"")
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise SetError(f"set file {path}: 'slot' must be [[slot]] tables, one per program")
    if len(rows) > MAX_SLOTS:
        raise SetError(f"set file {path} has {len(rows)} slots; MIDI programs go up to {MAX_SLOTS}")
    return [_slot(path, n, row) for n, row in enumerate(rows)]


def _slot(path: Path, n: int, row: dict) -> SetSlot:
    where = f"set file {path}: slot {n} (program {n})"
    unknown = sorted(set(row) - set(_SLOT_KEYS))
    if unknown:
        raise SetError(f"{where}: unknown key '{unknown[0]}' (known: {', '.join(_SLOT_KEYS)})")
    for key in ("prompt", "reference", "id"):
        if key in row and not isinstance(row[key], str):
            raise SetError(f"{where}: {key} must be a string, got {row[key]!r}")
    prompt, reference = " ".join(row.get("prompt", "").split()), row.get("reference", "")
    if bool(prompt) == bool(reference):
        raise SetError(f"{where}: give a prompt or a reference sound" + (", not both" if prompt else ""))
    seed = row.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise SetError(f"{where}: seed must be a whole number, 0 or more, got {seed!r}")
    if reference:
        file = Path(reference).expanduser()
        file = file if file.is_absolute() else path.parent / file
        if not file.is_file():
            raise SetError(f"{where}: reference sound {file} does not exist")
        reference = str(file)
    return SetSlot(prompt=prompt, reference=reference, seed=seed, id=row.get("id", ""))


def save_set(path: str | Path, specs: Sequence[InstrumentSpec]) -> None:
    """Write ``specs`` (program 0, 1, ...) as a set file, replacing ``path`` whole."""
    path = Path(path)
    lines = ["# livesampler set: [[slot]] N is program N. `livesampler play --set FILE` plays it,",
             "# `livesampler prepare FILE` makes every note of it ahead of time.", f"format = {FORMAT}"]
    for spec in specs:
        lines += ["", "[[slot]]"]
        if spec.prompt:
            lines.append(f"prompt = {toml_string(spec.prompt)}")
        else:
            reference = Path(spec.reference).resolve()
            try:
                reference = reference.relative_to(path.parent.resolve())
            except ValueError:
                pass  # elsewhere: kept absolute
            lines.append(f"reference = {toml_string(reference.as_posix())}")
        lines += [f"seed = {spec.seed}", f"id = {toml_string(spec.id)}"]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    temp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(temp, path)
    except (OSError, ValueError) as e:  # ValueError: a name the system cannot take
        if temp is not None and os.path.exists(temp):
            os.unlink(temp)
        raise SetError(f"cannot write set file {path}: {getattr(e, 'strerror', None) or e}") from None


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
