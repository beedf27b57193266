"""Set list files: what a session saves is what a later one loads; a bad file is named in one line."""

import tomllib

import pytest

from livesampler.gen.model import ModelSource
from livesampler.gen.setlist import SetError, SetSlot, load_set, save_set, toml_string
from livesampler.gen.spec import InstrumentSpec


def test_a_saved_set_loads_back_to_the_same_instruments(tmp_path):
    (tmp_path / "gigs" / "sounds").mkdir(parents=True)
    kalimba = tmp_path / "gigs" / "sounds" / "kalimba.wav"
    kalimba.write_bytes(b"RIFF not really a wav, but a file whose content names the instrument")
    elsewhere = tmp_path / "elsewhere.wav"
    elsewhere.write_bytes(b"another sound")
    source = ModelSource(factory=None, ids={"lm": "abc"}, sampling={"top_k": 250})
    specs = [source.spec('a "quoted" \\ pad\twith\x7f odd ünïcode', seed=0), source.spec(reference=str(kalimba), seed=2),
             source.spec("warm analog pad", seed=7), source.spec(reference=str(elsewhere), seed=0)]
    path = tmp_path / "gigs" / "gig.toml"
    save_set(path, specs)
    text = path.read_text()
    assert 'reference = "sounds/kalimba.wav"' in text  # under the set's folder: relative, so the folder can move
    assert f'reference = "{elsewhere}"' in text
    slots = load_set(path)
    assert [slot.spec(source, default_seed=99) for slot in slots] == specs
    assert [slot.id for slot in slots] == [spec.id for spec in specs]
    assert [slot.seed for slot in slots] == [0, 2, 7, 0]


def test_a_slot_without_a_seed_takes_the_configured_one(tmp_path):
    path = tmp_path / "set.toml"
    path.write_text('[[slot]]\nprompt = "  bright   bell "\n')
    (slot,) = load_set(path)
    assert slot == SetSlot(prompt="bright bell")
    assert slot.spec(ModelSource(factory=None), default_seed=5).seed == 5


def test_toml_strings_round_trip():
    for text in ['plain', 'a "b" \\ c', "tab\tnewline\nbell\x07 del\x7f", "ünï €"]:
        assert tomllib.loads(f"x = {toml_string(text)}")["x"] == text


@pytest.mark.parametrize("content, says", [
    (None, "does not exist"),
    ("[[slot]\nprompt = 'x'", "is not valid TOML"),
    ("format = 1\n", "has no [[slot]]"),
    ("format = 2\n[[slot]]\nprompt = 'x'\n", "format 2"),
    ("title = 'gig'\n[[slot]]\nprompt = 'x'\n", "unknown key 'title'"),
    ("slot = 'x'\n", "'slot' must be [[slot]] tables"),
    ("[[slot]]\nprompt = 'x'\n[[slot]]\npromt = 'y'\n", "slot 1 (program 1): unknown key 'promt'"),
    ("[[slot]]\nseed = 1\n", "slot 0 (program 0): give a prompt or a reference sound"),
    ("[[slot]]\nprompt = '   '\n", "give a prompt or a reference sound"),
    ("[[slot]]\nprompt = 'x'\nreference = 'y.wav'\n", "not both"),
    ("[[slot]]\nprompt = 'x'\nseed = -1\n", "seed must be a whole number, 0 or more, got -1"),
    ("[[slot]]\nprompt = 'x'\nseed = 1.5\n", "seed must be a whole number"),
    ("[[slot]]\nprompt = 'x'\nseed = true\n", "seed must be a whole number"),
    ("[[slot]]\nprompt = 3\n", "prompt must be a string"),
    ("[[slot]]\nreference = 'missing.wav'\n", "reference sound"),
    ("[[slot]]\nprompt = 'x'\n" * 129, "129 slots"),
])
def test_a_bad_set_file_is_one_line_naming_the_file_and_the_problem(tmp_path, content, says):
    path = tmp_path / "gig.toml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SetError) as e:
        load_set(path)
    message = str(e.value)
    assert "\n" not in message and str(path) in message and says in message, message


def test_a_set_that_cannot_be_written_says_so_and_leaves_nothing(tmp_path):
    (tmp_path / "set.toml").mkdir()  # a folder where the file should go
    with pytest.raises(SetError, match="cannot write set file"):
        save_set(tmp_path / "set.toml", [InstrumentSpec.make("x")])
    assert [p.name for p in tmp_path.iterdir()] == ["set.toml"]
