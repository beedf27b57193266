"""Offline rendering: MIDI file in, the same engine, identical output."""

import mido
import numpy as np
import pytest

from livesampler.rt.render import RenderError, read_events, render, render_file

from .conftest import SR, looped_sine, make_engine


def write_song(path, tempo_change=False):
    song = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    song.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=500000, time=0))
    track.append(mido.Message("program_change", program=0, time=0))
    track.append(mido.Message("control_change", control=64, value=127, time=0))
    for i, key in enumerate((60, 64, 67, 72)):
        track.append(mido.Message("note_on", note=key, velocity=40 + 20 * i, time=0 if i == 0 else 137))
        track.append(mido.Message("pitchwheel", pitch=500 * i, time=31))
        track.append(mido.Message("note_off", note=key, velocity=0, time=101))
        if tempo_change and i == 1:
            track.append(mido.MetaMessage("set_tempo", tempo=250000, time=0))
    track.append(mido.Message("control_change", control=64, value=0, time=240))
    track.append(mido.Message("sysex", data=[1, 2, 3], time=0))
    song.save(path)
    return path


def fresh_render(bank, inst, events, block):
    engine = make_engine([inst], bank)
    return render(engine, events, block)


def test_render_is_identical_run_to_run_and_across_block_sizes(tmp_path, bank):
    inst = looped_sine(bank, release=0.1)
    events, unused = read_events(write_song(tmp_path / "song.mid"), SR)
    assert unused == 1  # the SysEx
    a = fresh_render(bank, inst, events, 128)
    b = fresh_render(bank, inst, events, 128)
    c = fresh_render(bank, inst, events, 37)
    assert np.abs(a).max() > 0.05
    assert np.array_equal(a, b)
    n = min(len(a), len(c))
    assert np.array_equal(a[:n], c[:n])  # events land on their frame, whatever the block size


def test_events_are_placed_at_their_time(tmp_path):
    events, _ = read_events(write_song(tmp_path / "song.mid", tempo_change=True), SR)
    note_ons = [f for f, e in events if e[0] == 0x90]
    # 480 ticks per beat at 120 bpm: one tick is 1/960 s. The third note comes after a tempo doubling.
    assert note_ons[0] == 0
    assert note_ons[1] == round((137 + 31 + 101) / 960 * SR)
    assert note_ons[2] - note_ons[1] == round((31 + 101) / 960 * SR) + round(137 / 1920 * SR)


def test_render_ends_after_the_release_tails(tmp_path, bank):
    inst = looped_sine(bank, release=0.1)
    events, _ = read_events(write_song(tmp_path / "song.mid"), SR)
    audio = render(make_engine([inst], bank), events, 128)
    last = events[-1][0]
    assert last < len(audio) < last + SR  # the tail, not the 30 s limit
    assert np.abs(audio[-256:]).max() < 1e-3


def test_render_file_writes_wav(tmp_path, bank):
    import soundfile

    engine = make_engine([looped_sine(bank)], bank)
    figures = render_file(engine, write_song(tmp_path / "song.mid"), tmp_path / "out.wav", 128)
    audio, rate = soundfile.read(tmp_path / "out.wav")
    assert rate == SR and audio.shape[1] == 2 and audio.shape[0] == round(figures["seconds"] * SR)


@pytest.mark.parametrize("content", [None, b"", b"MThd\x00\x00\x00\x06\x00\x01", b"not a midi file at all"])
def test_bad_midi_file_is_a_clear_error(tmp_path, content):
    path = tmp_path / "bad.mid"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(RenderError) as err:
        read_events(path, SR)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
