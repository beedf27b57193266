"""`play --set` through a real JACK server (dummy driver): takes changed from the prompt line and by MIDI,
going back to one on disk, saving the set; no note-on is silent across the switches.

The set's first instrument is on disk before `play` starts (its notes written here, as `prepare` would
have made them: sines, so they are recognisable), and the generator (tiny real model files) makes the
new takes while the piece plays.
"""

from __future__ import annotations

import re
import secrets
import signal
import time
from pathlib import Path

import mido
import numpy as np
import pytest

from livesampler.config import load_config
from livesampler.gen.model import configured_source
from livesampler.gen.setlist import load_set
from livesampler.gen.store import SampleStore

from .conftest import sine
from .test_live_jack import SILENT, SR, Play, Recorder, audio_outputs, connect, jack_server, new_outputs, write_config

__all__ = ["jack_server"]  # the module's server fixture, used by name

pytestmark = [pytest.mark.jack, pytest.mark.slow]

ARPEGGIO = (60, 64, 67, 72, 67, 64)


def song(folder: Path, seconds: float, take_cc_at: float) -> Path:
    """A note every 0.3 s (the arpeggio, loud then soft); CC 102 pressed and let go at ``take_cc_at``."""
    mid = mido.MidiFile(ticks_per_beat=480)  # 120 qpm: 960 ticks a second
    track = mido.MidiTrack()
    mid.tracks.append(track)
    cc_sent = False
    for i in range(int(seconds / 0.3)):
        pitch, velocity = ARPEGGIO[i % 6], 100 if i % 12 < 6 else 60
        track.append(mido.Message("note_on", note=pitch, velocity=velocity, time=0 if i == 0 else 38))
        track.append(mido.Message("note_off", note=pitch, velocity=0, time=250))
        if not cc_sent and i * 0.3 >= take_cc_at:
            track.append(mido.Message("control_change", control=102, value=127, time=0))
            track.append(mido.Message("control_change", control=102, value=0, time=0))
            cc_sent = True
    path = folder / "song.mid"
    mid.save(path)
    return path


def test_play_a_set_change_takes_and_go_back_without_a_silent_note(jack_server, tmp_path):
    pytest.importorskip("torch")
    from tests.model.tiny import save_tiny_models

    models = save_tiny_models(tmp_path / "models")
    config_path = write_config(tmp_path, jack_server.device, f"livesampler-{secrets.token_hex(3)}")
    with open(config_path, "a") as f:
        f.write('\n[cache]\ndir = "cache"\n\n[model]\n'
                + "".join(f'{key} = "{path}"\n' for key, path in models.items())
                + 'device = "cpu"\ntop_k = 20\nguidance_scale = 1.0\nnote_seconds = 0.5\n')
    (tmp_path / "gig.toml").write_text('[[slot]]\nprompt = "warm analog pad"\n\n[[slot]]\nprompt = "bright bell"\n')
    # Take 0 of the first slot is ready for every note the piece plays.
    spec = configured_source(load_config(config_path)).spec("warm analog pad", seed=0)
    store = SampleStore(tmp_path / "cache")
    store.open(spec, SR)
    for pitch in set(ARPEGGIO):
        for layer in (50, 100):
            store.write(spec.id, (pitch, layer), sine(pitch, 1.0, level=layer / 127 * 0.5), SR)
    store.update_manifest(spec.id)

    recorder = Recorder(tmp_path, seconds=60.0)
    play = None
    try:
        before = audio_outputs()
        play = Play(["--config", str(config_path), "play", "--set", "gig.toml",
                     "--midi-file", str(song(tmp_path, 30.0, take_cc_at=14.0))], tmp_path, stdin=True)
        deadline = time.monotonic() + 45.0
        play.wait_for("playing:", deadline)
        connect(new_outputs(before), recorder.inputs)

        def type_line(text: str) -> None:
            play.proc.stdin.write(text + "\n")
            play.proc.stdin.flush()

        time.sleep(4.0)
        type_line(":take")  # a new take from the prompt line: nothing of it on disk
        assert "'warm analog pad' take 1 in program 0" in play.wait_for("now playing", deadline)
        # The piece's CC 102 at 14 s asks for another new take.
        assert "'warm analog pad' take 2 in program 0" in play.wait_for("now playing", deadline)
        time.sleep(2.0)
        type_line(":take 0")  # back to the first take: on disk
        back = play.wait_for("now playing", deadline)
        assert "take 0" in back and re.search(r"\b(\d+) of 440 notes already on disk", back).group(1) != "0"
        type_line(":save saved.toml")
        play.wait_for("saved 2 slots", deadline)
        time.sleep(3.0)
        play.proc.send_signal(signal.SIGTERM)
        rc = play.proc.wait(timeout=20)
        take = recorder.stop()
    finally:
        if play:
            play.kill()
        recorder.close()
    out, stdout, stderr = play.output()
    assert rc == 0 and "Traceback" not in stderr, stderr
    figures = dict(re.findall(r"([\w/]+)=([-\w.]+)", [line for line in out if line.startswith("stopped:")][0]))
    print({k: figures[k] for k in ("rt/notes", "rt/silent_notes", "gen/held_over", "gen/made", "rt/underflows")})
    assert int(figures["rt/notes"]) > 50
    assert int(figures["rt/silent_notes"]) == 0, "a note-on found no sample"
    assert int(figures["gen/held_over"]) > 0, "no note played the previous take while a new one was made"
    loud = np.flatnonzero(np.abs(take.mono) > SILENT)
    assert loud.size > 5 * SR, "the piece is not heard"
    (slot0, slot1) = load_set(tmp_path / "saved.toml")
    assert (slot0.prompt, slot0.seed, slot0.id) == ("warm analog pad", 0, spec.id)
    assert (slot1.prompt, slot1.seed) == ("bright bell", 0)
    assert store.takes(spec)[0] >= 2 * len(set(ARPEGGIO))  # take 0, with what was made of it while played
