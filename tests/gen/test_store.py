"""The sample cache on disk: ids, atomic writes, damaged entries, sharing between processes."""

import multiprocessing
import os

import numpy as np
import pytest
import soundfile

from livesampler.gen.spec import InstrumentSpec, layer_of
from livesampler.gen.store import CacheEntryError, SampleStore, note_name


def spec(prompt="warm analog pad", seed=0, **kw):
    return InstrumentSpec.make(prompt, seed=seed, sampling={"top_k": 250, "temperature": 1.0},
                               model_ids={"lm": "abc", "codec": "def"}, **kw)


def test_the_same_prompt_settings_and_models_make_the_same_instrument():
    assert spec().id == spec().id
    assert spec("warm   analog pad").id == spec().id  # spacing is not part of the sound
    assert spec(seed=1).id != spec().id
    assert spec("bright pad").id != spec().id
    other_model = InstrumentSpec.make("warm analog pad", sampling={"top_k": 250, "temperature": 1.0},
                                      model_ids={"lm": "abd", "codec": "def"})
    assert other_model.id != spec().id
    other_sampling = InstrumentSpec.make("warm analog pad", sampling={"top_k": 50, "temperature": 1.0},
                                         model_ids={"lm": "abc", "codec": "def"})
    assert other_sampling.id != spec().id


def test_a_reference_sound_is_identified_by_its_content(tmp_path):
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    soundfile.write(a, np.zeros(100), 8000)
    soundfile.write(b, np.zeros(100), 8000)
    assert InstrumentSpec.make(reference=a).id == InstrumentSpec.make(reference=b).id
    soundfile.write(b, np.ones(100) * 0.5, 8000)
    assert InstrumentSpec.make(reference=a).id != InstrumentSpec.make(reference=b).id


def test_an_empty_prompt_is_refused():
    with pytest.raises(ValueError, match="prompt is empty"):
        InstrumentSpec.make("   ")


def test_note_seeds_differ_per_note_and_do_not_depend_on_anything_else():
    s = spec()
    assert s.note_seed((60, 100)) == spec().note_seed((60, 100))
    assert len({s.note_seed((p, v)) for p in range(21, 109) for v in (25, 50, 75, 100, 127)}) == 440


def test_velocity_layers():
    assert [layer_of(v) for v in (1, 37, 38, 62, 63, 88, 113, 114, 127)] == [25, 25, 50, 50, 75, 100, 100, 127, 127]


def test_written_notes_read_back_and_are_ordinary_wav_files(tmp_path):
    store = SampleStore(tmp_path)
    s = spec()
    store.open(s, 16000)
    audio = np.sin(np.arange(1600) / 10).astype(np.float32)
    path = store.write(s.id, (60, 100), audio, 16000)
    back, rate = store.read(s.id, (60, 100))
    assert rate == 16000 and np.array_equal(back, audio)
    other, rate = soundfile.read(path, dtype="float32")  # any audio program can open it
    assert rate == 16000 and np.array_equal(other, audio)
    assert store.notes(s.id) == [(60, 100)]
    store.update_manifest(s.id)
    listed = store.instruments()
    assert len(listed) == 1 and listed[0].name == "warm analog pad" and listed[0].notes == ((60, 100),)
    assert listed[0].manifest["notes"] == [[60, 100]] and listed[0].manifest["model_ids"] == {"lm": "abc", "codec": "def"}


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "other_note"])
def test_a_damaged_entry_is_detected(tmp_path, damage):
    store = SampleStore(tmp_path)
    s = spec()
    path = store.write(s.id, (60, 100), np.linspace(-1, 1, 1000, dtype=np.float32), 16000)
    blob = bytearray(path.read_bytes())
    if damage == "truncate":
        path.write_bytes(blob[: len(blob) // 2])
    elif damage == "flip":
        blob[-10] ^= 0xFF
        path.write_bytes(blob)
    elif damage == "garbage":
        path.write_bytes(b"\0" * 100)
    else:
        os.replace(path, path.with_name(note_name((61, 100))))
        path = path.with_name(note_name((61, 100)))
    key = (61, 100) if damage == "other_note" else (60, 100)
    with pytest.raises(CacheEntryError, match=str(path.name)):
        store.read(s.id, key)


def test_a_failed_write_leaves_no_file_behind(tmp_path, monkeypatch):
    store = SampleStore(tmp_path)
    s = spec()
    store.open(s, 16000)

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        store.write(s.id, (60, 100), np.zeros(1000, np.float32), 16000)
    assert sorted(p.name for p in (tmp_path / s.id).iterdir()) == ["manifest.json"]


def _hammer(root, instrument_id, key, value, count):
    store = SampleStore(root)
    for _ in range(count):
        store.write(instrument_id, key, np.full(20000, value, np.float32), 16000)


def test_two_processes_writing_and_reading_one_folder_never_see_half_a_file(tmp_path):
    s = spec()
    ctx = multiprocessing.get_context("spawn")
    writers = [ctx.Process(target=_hammer, args=(str(tmp_path), s.id, (60, 100), v, 40)) for v in (0.25, 0.75)]
    for w in writers:
        w.start()
    store = SampleStore(tmp_path)
    reads = 0
    while any(w.is_alive() for w in writers):
        try:
            audio, _ = store.read(s.id, (60, 100))
        except FileNotFoundError:
            continue
        reads += 1
        assert audio.shape == (20000,) and audio[0] in (0.25, 0.75) and np.all(audio == audio[0])
    for w in writers:
        w.join()
        assert w.exitcode == 0
    assert reads > 0
    assert [p.name for p in (tmp_path / s.id).iterdir()] == [note_name((60, 100))]  # no temp files left
