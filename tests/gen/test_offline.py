"""Notes made ahead of time and MIDI rendered through generated instruments, in this process.

The model is the tone double (no weights); the CLI tests at the end use the shipped pocket models.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile
import soxr

from livesampler.config import parse_config
from livesampler.gen.model import ModelSource
from livesampler.gen.offline import make_notes, notes_played, render_generated
from livesampler.gen.spec import InstrumentSpec
from livesampler.gen.store import SampleStore
from livesampler.rt.engine import NOTE_OFF, NOTE_ON, PROGRAM
from tests.gen.doubles import RATE, tone_model

ROOT = Path(__file__).resolve().parents[2]


def config(tmp_path, rate=RATE):
    return parse_config(f'[audio]\nsample_rate = {rate}\n[cache]\ndir = "cache"\n', root=tmp_path)


def source():
    return ModelSource(tone_model, ids={"tone": "1"})


def at(seconds):
    return round(seconds * RATE)


# Two instruments: a program change to slot 1, one to a slot that does not exist (ignored),
# a key below the generated range (it plays pitch 21), a soft note (layer 50).
# The tone notes last 0.25 s: each one here is heard alone.
PIECE = [
    (at(0.0), (NOTE_ON, 0, 60, 100)), (at(0.15), (NOTE_OFF, 0, 60, 0)),
    (at(0.4), (NOTE_ON, 0, 64, 100)), (at(0.5), (NOTE_OFF, 0, 64, 0)),
    (at(0.7), (PROGRAM, 0, 1, 0)), (at(0.7), (PROGRAM, 0, 5, 0)),
    (at(0.8), (NOTE_ON, 0, 67, 60)), (at(0.9), (NOTE_OFF, 0, 67, 0)),
    (at(1.2), (NOTE_ON, 0, 10, 100)), (at(1.3), (NOTE_OFF, 0, 10, 0)),
]


def test_the_notes_a_piece_plays_are_the_ones_the_engine_plays(tmp_path):
    assert notes_played(PIECE, 2, config(tmp_path)) == [{(60, 100), (64, 100)}, {(67, 50), (21, 100)}]
    # With one slot the program change to 1 is ignored, as the engine ignores it.
    assert notes_played(PIECE, 1, config(tmp_path)) == [{(60, 100), (64, 100), (67, 50), (21, 100)}]
    # More note-ons than the play log holds.
    many = [(n, (NOTE_ON, n % 16, 21 + n % 88, 1 + n % 127)) for n in range(10000)]
    assert len(notes_played(many, 1, config(tmp_path))[0]) == 440


def test_a_piece_is_rendered_through_the_notes_made_for_it_then_from_the_cache(tmp_path):
    cfg = config(tmp_path)
    specs = [InstrumentSpec.make("glass harp", model_ids={"tone": "1"}), InstrumentSpec.make("bowl", seed=4,
                                                                                            model_ids={"tone": "1"})]
    seen = []
    first = render_generated(cfg, source(), specs, PIECE, 64, progress=lambda *a: seen.append(a[:2]))
    assert first.made == 4 and first.needed == 4 and seen[0] == (0, 4) and seen[-1] == (4, 4)
    store = SampleStore(tmp_path / "cache")
    assert store.notes(specs[0].id) == [(60, 100), (64, 100)]
    assert store.notes(specs[1].id) == [(21, 100), (67, 50)]
    c = first.counters
    assert c["notes"] == 4 and c["silent_notes"] == 0
    assert c["own_sample"] == 3 and c["borrowed"] == 1 and c["borrow_semitones"] == 11  # key 10 plays pitch 21
    # What is heard is the generated notes, at the level the engine gives them.
    left = first.audio[:, 0]
    for (start, (_, _, key, velocity)), spec, note in [(PIECE[0], specs[0], (60, 100)),
                                                        (PIECE[6], specs[1], (67, 50))]:
        made, _ = store.read(spec.id, note)
        heard = left[start + 64:start + 640]
        expected = made[64:640]
        assert np.corrcoef(heard, expected)[0, 1] > 0.999
        gain = 10 ** (-6 / 20) * np.cos(np.pi / 4) * (velocity / note[1]) ** 2  # engine gain, centre pan, layer
        assert np.abs(heard).max() == pytest.approx(np.abs(expected).max() * gain, rel=0.02)
    again = render_generated(cfg, ModelSource(_no_model), specs, PIECE, 64)
    assert again.made == 0 and np.array_equal(again.audio, first.audio)


def _no_model():
    raise AssertionError("the model was built although every note was in the cache")


def test_an_interrupted_run_keeps_its_notes_and_the_next_one_makes_the_rest(tmp_path):
    store = SampleStore(tmp_path / "cache")
    a, b = InstrumentSpec.make("glass harp", model_ids={"tone": "1"}), InstrumentSpec.make("bowl",
                                                                                          model_ids={"tone": "1"})
    jobs = [(a, [(p, 100) for p in range(60, 66)]), (b, [(40, 25), (41, 25)]), (a, [(60, 100), (70, 127)])]

    def stop_after_three(done, total, spec):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        make_notes(source(), jobs, store, batch_size=1, progress=stop_after_three)
    assert len(store.notes(a.id)) == 3 and store.instruments()[0].manifest["notes"] == [[60, 100], [61, 100],
                                                                                          [62, 100]]
    assert make_notes(source(), jobs, store, batch_size=3) == 6
    assert len(store.notes(a.id)) == 7 and store.notes(b.id) == [(40, 25), (41, 25)]
    assert make_notes(ModelSource(_no_model), jobs, store) == 0


# The command, with the shipped models.


def shipped_config(tmp_path):
    text = (ROOT / "config.toml").read_text()
    for key in ("codec_weights", "clap_path", "lm_checkpoint"):
        text = text.replace(f'{key} = "models/', f'{key} = "{ROOT}/models/')
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def cli(tmp_path, *args, **kw):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "livesampler", "--config", str(tmp_path / "config.toml"),
                           *map(str, args)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, **kw)


def tiny_song(path):
    mid = mido.MidiFile(ticks_per_beat=480)  # 120 qpm: half a second a beat
    track = mido.MidiTrack()
    mid.tracks.append(track)
    for note, velocity in [(60, 100), (64, 100), (67, 60)]:
        track.append(mido.Message("note_on", note=note, velocity=velocity, time=0))
        track.append(mido.Message("note_off", note=note, velocity=0, time=480))
    mid.save(path)
    return path


@pytest.mark.slow
def test_render_from_a_prompt_with_the_shipped_models(tmp_path):
    shipped_config(tmp_path)
    song = tiny_song(tmp_path / "tiny.mid")
    done = cli(tmp_path, "render", song, "-o", tmp_path / "out.wav", "--prompt", "grand piano")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "generated 3 notes; 0 of the 3 notes the piece plays were in the cache" in done.stdout
    assert "3 notes, 3 played by their own generated sample" in done.stdout
    assert "generating" in done.stderr  # the progress bar
    audio, rate = soundfile.read(tmp_path / "out.wav", dtype="float32")
    assert rate == 48000 and audio.shape[0] >= int(1.5 * rate)
    store = SampleStore(tmp_path / "cache")
    (inst,) = store.instruments()
    assert inst.notes == ((60, 100), (64, 100), (67, 50)) and inst.manifest["prompt"] == "grand piano"
    # The first half second is the generated note 60 alone, resampled to the output rate.
    made, made_rate = store.read(inst.id, (60, 100))
    expected = soxr.resample(made, made_rate, rate)[: int(0.45 * rate)]
    heard = audio[: expected.shape[0], 0]
    assert np.abs(heard).max() > 0.01, "the render is silent"
    assert np.corrcoef(heard, expected)[0, 1] > 0.99
    started = time.monotonic()
    again = cli(tmp_path, "render", song, "-o", tmp_path / "again.wav", "--prompt", "grand piano")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "generated 0 notes; 3 of the 3 notes the piece plays were in the cache" in again.stdout
    assert "Loading" not in again.stderr  # no model was loaded
    print(f"second render: {time.monotonic() - started:.1f} s")
    assert np.array_equal(soundfile.read(tmp_path / "again.wav", dtype="float32")[0], audio)


@pytest.mark.slow
def test_prepare_makes_every_instrument_of_a_set_and_skips_what_is_there(tmp_path):
    shipped_config(tmp_path)
    (tmp_path / "gig.toml").write_text('[[slot]]\nprompt = "grand piano"\n\n[[slot]]\nprompt = "grand piano"\n'
                                       'seed = 1\n')
    done = cli(tmp_path, "prepare", "gig.toml", "--pitches", "60", "--velocities", "100")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "program 1: 'grand piano' take 1" in done.stdout and "made 2 notes" in done.stdout
    store = SampleStore(tmp_path / "cache")
    assert sorted(i.manifest["seed"] for i in store.instruments()) == [0, 1]
    assert all(i.notes == ((60, 100),) for i in store.instruments())
    again = cli(tmp_path, "prepare", "gig.toml", "--pitches", "60", "--velocities", "100")
    assert again.returncode == 0 and "nothing to make" in again.stdout


@pytest.mark.slow
def test_prepare_stops_cleanly_when_interrupted(tmp_path):
    shipped_config(tmp_path)
    (tmp_path / "gig.toml").write_text('[[slot]]\nprompt = "grand piano"\n')
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "livesampler", "--config", str(tmp_path / "config.toml"),
                             "prepare", "gig.toml"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        while "notes in the cache" not in line:  # the model starts loading right after this line
            line = proc.stdout.readline()
            assert line or proc.poll() is None, proc.stderr.read()
        time.sleep(2.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130 and "Traceback" not in err, err[-3000:]
    assert "notes made and kept; `livesampler prepare gig.toml` makes the other" in err


def test_prepare_and_render_name_a_bad_set_file_in_one_line(tmp_path):
    (tmp_path / "config.toml").write_text("")
    (tmp_path / "gig.toml").write_text('[[slot]]\nprompt = "x"\nseed = "one"\n')
    for args in (("prepare", "gig.toml"), ("render", "song.mid", "-o", "out.wav", "--set", "gig.toml"),
                 ("prepare", "missing.toml")):
        if args[0] == "render":
            tiny_song(tmp_path / "song.mid")
        failed = cli(tmp_path, *args)
        lines = failed.stderr.strip().splitlines()
        assert failed.returncode == 2 and len(lines) == 1, failed.stderr
        assert ("gig.toml: slot 0 (program 0): seed must be" in lines[0]) or "missing.toml does not exist" in lines[0]
    for args, says in [(("render", "song.mid", "-o", "o.wav", "--prompt", "x", "--instrument", "a.sfz"), "not both"),
                       (("render", "song.mid", "-o", "o.wav", "--seed", "2"), "--seed goes with --prompt"),
                       (("render", "song.mid", "-o", "nowhere/o.wav", "--prompt", "x"), "folder nowhere"),
                       (("prepare", "gig.toml", "--velocities", "64"), "--velocities: the layers are")]:
        failed = cli(tmp_path, *args)
        lines = failed.stderr.strip().splitlines()
        assert failed.returncode == 2 and len(lines) == 1 and says in lines[0], failed.stderr
