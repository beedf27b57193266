"""`livesampler dataset`: a render and a summary, or one line on stderr."""

import pytest

from livesampler.cli import main
from livesampler.data.nsynth import read_dataset


def one_line_error(capsys, argv, *fragments):
    with pytest.raises(SystemExit) as exit:
        main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert exit.value.code == 2 and len(lines) == 1 and "Traceback" not in err, err
    for f in fragments:
        assert f in lines[0], lines[0]


def test_render_soundfont_prints_what_it_did(timgm_sf2, tmp_path, capsys):
    out = tmp_path / "set"
    argv = ["dataset", "render-soundfont", str(timgm_sf2), "-o", str(out), "--programs", "0,120",
            "--pitches", "59-60,120", "--velocities", "100"]
    main(argv)
    said = capsys.readouterr().out
    assert "2 notes rendered" in said and "0 already there" in said
    assert "skipped 1 notes silent" in said and "skipped programs 120: no NSynth family" in said
    assert sum(len(n) for n in read_dataset(out).values()) == 2
    main(argv)
    assert "0 notes rendered" in capsys.readouterr().out
    main(["dataset", "info", str(out)])
    said = capsys.readouterr().out
    assert "train: 2 notes, 1 instruments, pitches 59-60" in said and "keyboard 1" in said


def test_errors_are_one_line(timgm_sf2, tmp_path, capsys):
    render = ["dataset", "render-soundfont", str(timgm_sf2), "-o", str(tmp_path / "o")]
    one_line_error(capsys, ["dataset", "render-soundfont", str(tmp_path / "no.sf2"), "-o", str(tmp_path / "o")],
                   "no.sf2", "does not exist")
    (tmp_path / "bad.sf3").write_bytes(b"RIFF\x10\x00\x00\x00sfbkjunkjunk")
    one_line_error(capsys, ["dataset", "render-soundfont", str(tmp_path / "bad.sf3"), "-o", str(tmp_path / "o")],
                   "bad.sf3", "cannot be read")
    one_line_error(capsys, render + ["--programs", "0,4x"], "--programs", "'4x'")
    one_line_error(capsys, render + ["--pitches", "60-50"], "--pitches", "backwards")
    one_line_error(capsys, render + ["--velocities", "0"], "velocities must be 1-127")
    one_line_error(capsys, render + ["--sample-rate", "1000"], "sample rate")
    one_line_error(capsys, ["dataset", "info", str(tmp_path / "nowhere")], "nowhere", "does not exist")
