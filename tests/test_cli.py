"""The livesampler command: real files in, one-line errors out."""

import subprocess
import sys
import wave

import mido
import numpy as np
import pytest
import soundfile

from livesampler.cli import main
from livesampler.rt.soundfont import find_preset


def tone_sfz(folder, extra=""):
    rate = 44100
    t = np.arange(rate) / rate
    soundfile.write(folder / "tone.wav", (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate)
    path = folder / "tone.sfz"
    path.write_text(f"<region> sample=tone.wav pitch_keycenter=69 {extra}\n")
    return path


def song(folder, key=69):
    mid = mido.MidiFile()
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.Message("note_on", note=key, velocity=100, time=0))
    track.append(mido.Message("note_off", note=key, velocity=0, time=480))
    path = folder / "song.mid"
    mid.save(path)
    return path


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "livesampler", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def test_render_writes_the_piece(tmp_path, capsys):
    main(["render", str(song(tmp_path)), "-o", str(tmp_path / "out.wav"), "--instrument", str(tone_sfz(tmp_path))])
    audio, rate = soundfile.read(tmp_path / "out.wav")
    assert rate == 48000 and np.abs(audio).max() > 0.05
    assert "wrote" in capsys.readouterr().out


def test_render_with_real_soundfont_piano(tmp_path, timgm_sfz_dir):
    from tests.rt.conftest import dominant_hz

    piano = find_preset(timgm_sfz_dir, bank=0, program=0)
    main(["render", str(song(tmp_path, key=57)), "-o", str(tmp_path / "out.wav"), "--instrument", str(piano)])
    audio, rate = soundfile.read(tmp_path / "out.wav")
    f = dominant_hz(audio[rate // 20: rate // 2, 0], rate)
    assert f == pytest.approx(220.0, rel=0.01) or f == pytest.approx(440.0, rel=0.01)  # A3, or its 2nd partial


def one_line_error(result, *fragments):
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for f in fragments:
        assert f in lines[0], lines[0]


def test_missing_instrument_file(tmp_path):
    one_line_error(run_cli("render", song(tmp_path), "-o", tmp_path / "o.wav", "--instrument", tmp_path / "no.sfz"),
                   "no.sfz", "does not exist")


def test_missing_sample_names_the_region(tmp_path):
    path = tmp_path / "broken.sfz"
    path.write_text("<group> volume=-3\n<region> sample=gone.wav key=60\n")
    one_line_error(run_cli("render", song(tmp_path), "-o", tmp_path / "o.wav", "--instrument", path),
                   "broken.sfz:2", "gone.wav")


def test_corrupt_sample_file(tmp_path):
    (tmp_path / "tone.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    path = tmp_path / "bad.sfz"
    path.write_text("<region> sample=tone.wav\n")
    one_line_error(run_cli("render", song(tmp_path), "-o", tmp_path / "o.wav", "--instrument", path), "tone.wav")


def test_bad_config_names_the_key(tmp_path):
    (tmp_path / "config.toml").write_text("[engine]\npolyphony = 'lots'\n")
    one_line_error(run_cli("devices", cwd=tmp_path), "engine.polyphony")


def test_bad_midi_file(tmp_path):
    (tmp_path / "bad.mid").write_bytes(b"garbage")
    one_line_error(run_cli("render", tmp_path / "bad.mid", "-o", tmp_path / "o.wav", "--instrument",
                           tone_sfz(tmp_path)), "bad.mid")


def test_unwritable_output(tmp_path):
    one_line_error(run_cli("render", song(tmp_path), "-o", tmp_path / "no" / "dir" / "o.wav", "--instrument",
                           tone_sfz(tmp_path)), "o.wav")


def test_devices_lists_without_failing(tmp_path):
    result = run_cli("devices", cwd=tmp_path)
    assert result.returncode == 0
    assert "MIDI inputs" in result.stdout and "Audio outputs" in result.stdout


def test_play_without_audio_output_is_a_clear_error(tmp_path):
    if subprocess.run(["pgrep", "-x", "jackd"], capture_output=True).returncode == 0:
        pytest.skip("a JACK server is running here: there is an audio output")
    (tmp_path / "config.toml").write_text('[midi]\napi = "jack"\n')
    result = run_cli("play", "--instrument", tone_sfz(tmp_path), "--seconds", "1", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_prompt_without_model_files_names_the_setting(tmp_path):
    (tmp_path / "config.toml").write_text('[model]\nlm_checkpoint = "nowhere/lm"\n')
    one_line_error(run_cli("play", "--prompt", "warm pad", cwd=tmp_path), "model.", "does not exist", "train")


def test_empty_prompt_is_refused_before_anything_loads(tmp_path):
    one_line_error(run_cli("play", "--prompt", "  ", cwd=tmp_path), "prompt is empty")
    one_line_error(run_cli("play", "--reference", tmp_path / "gone.wav", cwd=tmp_path), "gone.wav", "does not exist")
    one_line_error(run_cli("play", "--prompt", "pad", "--instrument", tone_sfz(tmp_path), cwd=tmp_path), "not both")


def filled_cache(folder):
    from livesampler.gen.spec import InstrumentSpec
    from livesampler.gen.store import SampleStore

    store = SampleStore(folder / "cache")
    specs = [InstrumentSpec.make("warm analog pad", model_ids={"lm": "x"}),
             InstrumentSpec.make("bright bell", model_ids={"lm": "x"})]
    for spec, keys in zip(specs, ([(60, 2), (61, 2), (62, 2), (72, 4)], [(21, 0)])):
        store.open(spec, 16000)
        for key in keys:
            store.write(spec.id, key, np.zeros(1600, np.float32), 16000)
        store.update_manifest(spec.id)
    return specs


def test_cache_list_show_clear(tmp_path):
    (tmp_path / "config.toml").write_text('[cache]\ndir = "cache"\n')
    pad, bell = filled_cache(tmp_path)
    listing = run_cli("cache", "list", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert any(line.startswith(pad.id) and "4/440" in line and "warm analog pad" in line for line in lines)
    assert any(line.startswith(bell.id) and "1/440" in line for line in lines)
    assert "2 instruments" in lines[-1]

    shown = run_cli("cache", "show", pad.id[:6], cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "prompt:     warm analog pad" in shown.stdout
    assert "layer 2: 60-62" in shown.stdout and "layer 4: 72" in shown.stdout

    one_line_error(run_cli("cache", "show", "zzz", cwd=tmp_path), "no instrument", "zzz")
    one_line_error(run_cli("cache", "clear", cwd=tmp_path), "ids or --all")

    cleared = run_cli("cache", "clear", bell.id[:8], cwd=tmp_path)
    assert cleared.returncode == 0 and "removed" in cleared.stdout
    assert not (tmp_path / "cache" / bell.id).exists() and (tmp_path / "cache" / pad.id).is_dir()
    assert run_cli("cache", "clear", "--all", cwd=tmp_path).returncode == 0
    assert "no generated instruments" in run_cli("cache", "list", cwd=tmp_path).stdout


def test_prompt_line_commands_act_on_a_prompt_host(tmp_path, capsys):
    """The ":" commands typed while playing, on a real host that is built but not started (no audio)."""
    from livesampler.cli import _prompt_command
    from livesampler.config import parse_config
    from livesampler.gen.host import PromptHost
    from livesampler.gen.model import ModelSource
    from livesampler.gen.setlist import load_set
    from livesampler.rt.engine import CONTROL, PROGRAM
    from tests.gen.doubles import tone_model

    config = parse_config('[cache]\ndir = "cache"\n[midi]\nchannel = 3\n', root=tmp_path)
    (tmp_path / "test_cli.py").write_text("a file, not a folder")
    source = ModelSource(tone_model, ids={"tone": "1"})
    host = PromptHost(config, source, [source.spec("glass harp"), source.spec("bowl", seed=5)])
    try:
        _prompt_command(host, ["take"])
        _prompt_command(host, ["take", "7"])
        _prompt_command(host, ["prev"])
        _prompt_command(host, ["next"])
        assert [r[1] for r in host.loop.requests] == ["new", 7, "previous", "next"]
        host.host.send((CONTROL, 2, 102, 127))  # a take controller from MIDI reaches the loop as well
        assert host.loop.requests[-1] == ("take", "new")
        _prompt_command(host, ["program", "1"])
        assert host.host.engine.events[-1] == (PROGRAM, 2, 1, 0)  # on the channel the host listens to
        for words, says in [(["take", "x"], ":take takes a seed"), (["program", "2"], "slot number, 0-1"),
                            (["save", str(tmp_path / "test_cli.py" / "gig.toml")], "cannot write set file")]:
            with pytest.raises(ValueError, match=says):
                _prompt_command(host, words)
        _prompt_command(host, ["save", str(tmp_path / "gig.toml")])
        assert [(s.prompt, s.seed) for s in load_set(tmp_path / "gig.toml")] == [("glass harp", 0), ("bowl", 5)]
        _prompt_command(host, ["takes"])
        _prompt_command(host, ["help"])
        out = capsys.readouterr().out
        assert "saved 2 slots" in out and "takes of 'glass harp': none on disk yet; playing take 0" in out
        assert ":take N" in out
    finally:
        host.close()
