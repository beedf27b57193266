"""Session fixtures shared by all test folders."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

TIMGM_SF2 = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")


@pytest.fixture(scope="session")
def timgm_sfz_dir(tmp_path_factory) -> Path:
    """TimGM6mb.sf2 converted to SFZ by polyphone: the folder holding one .sfz per preset.

    polyphone (Debian package `polyphone`) writes OUTDIR/NAME/<preset>.sfz and
    OUTDIR/NAME/samples/*.wav.  It is a Qt program, so it runs on the offscreen
    platform to need no display.
    """
    polyphone = shutil.which("polyphone")
    if polyphone is None:
        pytest.skip("polyphone is not installed (apt-get install polyphone) - needed to make real SFZ files")
    if not TIMGM_SF2.is_file():
        pytest.skip(f"{TIMGM_SF2} is missing (apt-get install timgm6mb-soundfont)")
    out = tmp_path_factory.mktemp("polyphone")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([polyphone, "-3", "-i", str(TIMGM_SF2), "-d", str(out), "-o", "TimGM6mb"],
                          env=env, capture_output=True, text=True, timeout=120)
    folder = out / "TimGM6mb"
    if proc.returncode != 0 or not any(folder.glob("*.sfz")):
        pytest.fail(f"polyphone failed (rc {proc.returncode}): {proc.stdout[-2000:]} {proc.stderr[-2000:]}")
    return folder
