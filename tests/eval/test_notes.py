"""Which notes an evaluation looks at: reference notes, instruments over families, prompts files."""

from pathlib import Path

import pytest

from livesampler.data.nsynth import Note
from livesampler.eval import EvalError
from livesampler.eval.notes import by_instrument, pick_instruments, read_prompts, reference_note


def note(instrument: str, pitch: int, velocity: int = 100, family: str = "keyboard") -> Note:
    return Note(f"{instrument}-{pitch:03d}-{velocity:03d}", pitch, velocity, 0, instrument, 0, family, 0, "acoustic",
                (0,) * 10, (), 16000, Path("/nowhere"))


def test_the_reference_note_is_the_fixed_schemes():
    notes = [note("a", 58, 100), note("a", 62, 127), note("a", 62, 100), note("a", 72, 100)]
    assert reference_note(notes).note_str == "a-058-100"  # 58 and 62 are as near 60: the lower pitch
    assert reference_note(notes[1:]).note_str == "a-062-100"  # then the velocity nearest 100
    assert reference_note([note("a", 60, 25), note("a", 61, 100)]).note_str == "a-060-025"  # pitch first


def test_instruments_are_picked_over_families():
    notes = [note(f"{family}{i}", p, family=family) for family, count in (("bass", 4), ("flute", 1), ("organ", 2))
             for i in range(count) for p in (48, 60)] + [note("lonely", 60, family="reed")]
    groups = by_instrument(notes)
    picked = pick_instruments(groups, 3, seed=0)
    assert sorted(groups[n][0].instrument_family_str for n in picked) == ["bass", "flute", "organ"]
    assert pick_instruments(groups, 3, seed=0) == picked
    assert "lonely" not in pick_instruments(groups, None, seed=0)  # one note is no instrument to measure
    assert len(pick_instruments(groups, 100, seed=0)) == 7


def test_prompts_file(tmp_path):
    (tmp_path / "p.txt").write_text("  warm pad \n\nbright piano\n")
    assert read_prompts(tmp_path / "p.txt") == ["warm pad", "bright piano"]
    with pytest.raises(EvalError, match="does not exist"):
        read_prompts(tmp_path / "missing.txt")
