"""General MIDI soundfonts (.sf2/.sf3) as SFZ instruments, converted by Polyphone.

Polyphone (Debian package ``polyphone``) is a Qt program; it converts headless
on Qt's offscreen platform. Asked to prefix presets with their numbers and to
make a folder per bank, it writes::

    OUT/NAME/000/000_Piano 1.sfz     bank 0, program 0
    OUT/NAME/128/000_Standard.sfz    bank 128 (drum kits)
    OUT/NAME/samples/*.wav           shared by all presets

so that a GM program number finds its preset.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CONVERT_TIMEOUT = 600  # seconds; a 150 MB font converts in about 2 s here


class SoundfontError(Exception):
    """A soundfont that could not be converted; the message says why."""


def converted_folder(font: Path, out_dir: Path) -> Path:
    return Path(out_dir) / Path(font).stem


def convert_soundfont(font: str | Path, out_dir: str | Path, force: bool = False) -> Path:
    """Convert ``font`` into ``out_dir/<font name>/``; returns that folder.

    A folder that already holds a conversion is kept unless ``force``.
    """
    font, out_dir = Path(font), Path(out_dir)
    folder = converted_folder(font, out_dir)
    if not force and any(folder.glob("[0-9][0-9][0-9]/*.sfz")):
        return folder
    if not font.is_file():
        raise SoundfontError(f"soundfont {font} does not exist")
    polyphone = shutil.which("polyphone")
    if polyphone is None:
        raise SoundfontError("polyphone is not installed (Debian/Ubuntu: apt-get install polyphone)")
    out_dir.mkdir(parents=True, exist_ok=True)
    if folder.exists():
        shutil.rmtree(folder)
    # No display: Qt's offscreen platform. Its runtime dir only needs to exist.
    runtime = out_dir / ".polyphone-runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=str(runtime.resolve()))
    command = [polyphone, "-3", "-i", str(font), "-d", str(out_dir), "-o", font.stem, "-c", "110"]
    try:
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=CONVERT_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise SoundfontError(f"polyphone did not finish converting {font} in {CONVERT_TIMEOUT} s") from None
    finally:
        shutil.rmtree(runtime, ignore_errors=True)
    if result.returncode != 0 or not any(folder.glob("[0-9][0-9][0-9]/*.sfz")):
        said = (result.stdout + result.stderr).strip().splitlines()
        last = said[-1] if said else "no output"
        raise SoundfontError(f"polyphone could not convert {font} (exit {result.returncode}: {last})")
    return folder


def find_preset(folder: str | Path, bank: int = 0, program: int = 0) -> Path:
    """The SFZ file of GM ``program`` in ``bank`` of a converted soundfont."""
    matches = sorted((Path(folder) / f"{bank:03d}").glob(f"{program:03d}_*.sfz"))
    if not matches:
        raise SoundfontError(f"{folder} has no preset for bank {bank}, program {program}")
    return matches[0]
