"""Session fixtures shared by all test folders."""

import shutil
from pathlib import Path

import pytest

from livesampler.rt.soundfont import convert_soundfont

TIMGM_SF2 = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")


@pytest.fixture(scope="session")
def timgm_sfz_dir(tmp_path_factory) -> Path:
    """Debian's TimGM6mb General MIDI soundfont converted to SFZ by Polyphone.

    The folder holds one sub-folder per bank (``000/000_Piano 1.sfz``...) and the
    shared ``samples/``.
    """
    if shutil.which("polyphone") is None:
        pytest.skip("polyphone is not installed (apt-get install polyphone): needed to make real SFZ files")
    if not TIMGM_SF2.is_file():
        pytest.skip(f"{TIMGM_SF2} is missing (apt-get install timgm6mb-soundfont)")
    return convert_soundfont(TIMGM_SF2, tmp_path_factory.mktemp("polyphone"))


@pytest.fixture(scope="session")
def timgm_sf2() -> Path:
    """Debian's TimGM6mb soundfont, for rendering small note sets (skips where it or libfluidsynth is missing)."""
    if not TIMGM_SF2.is_file():
        pytest.skip(f"{TIMGM_SF2} is missing (apt-get install timgm6mb-soundfont)")
    pytest.importorskip("fluidsynth", reason="pyfluidsynth cannot load libfluidsynth (apt-get install libfluidsynth3)")
    return TIMGM_SF2
