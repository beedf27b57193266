"""Notes rendered from TimGM6mb, read back with the NSynth reader."""

import numpy as np
import pytest
import soundfile

from livesampler.data import DatasetError
from livesampler.data.gm import GM_PROGRAMS, nsynth_labels
from livesampler.data.nsynth import FAMILIES, SOURCES, read_audio, read_dataset
from livesampler.data.render import SoundfontSynth, render_soundfont, split_of
from tests.data.conftest import PITCHES, PROGRAMS, VELOCITIES
from tests.data.sf3 import sf2_to_sf3
from tests.rt.conftest import dominant_hz


def test_gm_table_covers_every_program_with_nsynth_labels():
    assert len(GM_PROGRAMS) == 128
    for labels in GM_PROGRAMS:
        assert labels is None or (labels[0] in FAMILIES and labels[1] in SOURCES)
    assert nsynth_labels(0) == ("keyboard", "acoustic") and nsynth_labels(38) == ("bass", "synthetic")
    assert nsynth_labels(30) == ("guitar", "electronic") and nsynth_labels(73) == ("flute", "acoustic")
    assert all(nsynth_labels(p) is None for p in range(120, 128))  # sound effects


def test_rendered_notes_read_back_with_nsynth_fields(rendered):
    folder, report = rendered
    data = read_dataset(folder)
    notes = [n for split in data.values() for n in split]
    # 3 programs with a family x pitches 60 and 69 x 2 velocities; pitch 120 is silent in this font.
    assert len(notes) == report.rendered == 12
    assert {n.pitch for n in notes} == {60, 69} and {n.velocity for n in notes} == set(VELOCITIES)
    piano = next(n for n in notes if n.instrument_str == "timgm6mb_000_piano_1" and n.pitch == 60)
    assert piano.note_str == f"timgm6mb_000_piano_1-060-{piano.velocity:03d}"
    assert (piano.instrument_family_str, piano.instrument_source_str) == ("keyboard", "acoustic")
    assert piano.instrument_family == FAMILIES.index("keyboard") and piano.qualities == (0,) * 10
    ocarina = next(n for n in notes if n.instrument_str == "timgm6mb_079_ocarina")
    assert (ocarina.instrument_family_str, ocarina.instrument_source_str) == ("flute", "acoustic")
    for n in notes:
        info = soundfile.info(str(n.path))
        assert (info.samplerate, info.channels, info.frames) == (16000, 1, 64000) and n.sample_rate == 16000


def test_loud_and_quiet_velocities_differ(rendered):
    notes = read_dataset(rendered[0])["train"]  # the piano
    peak = {n.velocity: float(np.abs(read_audio(n)).max()) for n in notes if n.pitch == 60}
    assert 0.003 < peak[25] < peak[127] / 10 and peak[127] < 0.99


def test_programs_and_silent_notes_are_skipped_and_counted(rendered):
    _, report = rendered
    assert report.skipped_programs == {120: "no NSynth family"}
    assert report.skipped == {"silent": 3 * len(VELOCITIES)}  # pitch 120 of each program


def test_splits_are_by_instrument(rendered):
    folder, report = rendered
    data = read_dataset(folder)
    assert set(data) == {"train", "valid", "test"}
    owners = {}
    for split, notes in data.items():
        for n in notes:
            assert owners.setdefault(n.instrument_str, split) == split  # never in two splits
            assert split_of(n.instrument_str) == split
    assert sorted(owners.values()) == ["test", "train", "valid"]  # these three programs land in all three
    assert report.instruments == {"train": 1, "valid": 1, "test": 1}


def test_split_shares_are_roughly_80_10_10():
    splits = [split_of(f"font_{p:03d}_preset") for p in range(2000)]
    assert 0.75 < splits.count("train") / 2000 < 0.85
    assert 0.07 < splits.count("valid") / 2000 < 0.13 and 0.07 < splits.count("test") / 2000 < 0.13


def test_a_second_run_renders_nothing_new_and_keeps_earlier_programs(rendered, timgm_sf2, tmp_path):
    from tests.data.conftest import PROGRAMS

    folder = tmp_path / "again"
    first = render_soundfont(timgm_sf2, folder, programs=[0], pitches=[60], velocities=[127])
    assert first.rendered == 1
    wav = folder / "nsynth-train" / "audio" / "timgm6mb_000_piano_1-060-127.wav"
    stamp = wav.stat().st_mtime_ns
    # A half-written wav from a stopped run is rendered again.
    broken = folder / "nsynth-train" / "audio" / "timgm6mb_000_piano_1-069-127.wav"
    broken.write_bytes(wav.read_bytes()[:5000])
    second = render_soundfont(timgm_sf2, folder, programs=PROGRAMS, pitches=PITCHES, velocities=VELOCITIES)
    assert (second.on_disk, second.rendered) == (1, 11)
    assert wav.stat().st_mtime_ns == stamp and soundfile.info(str(broken)).frames == 64000
    third = render_soundfont(timgm_sf2, folder, programs=[79], pitches=[69], velocities=[25])
    assert (third.on_disk, third.rendered) == (1, 0)
    assert sum(third.notes.values()) == 12  # the other programs' entries stay in examples.json
    assert not list(folder.glob("*/audio/.*.part")) and not list(folder.glob("*/.*.part"))


def test_rendered_pitch_is_the_midi_pitch(rendered):
    notes = [n for notes in read_dataset(rendered[0]).values() for n in notes]
    ocarina = next(n for n in notes if n.instrument_str == "timgm6mb_079_ocarina" and n.pitch == 69
                   and n.velocity == 127)
    audio = read_audio(ocarina)
    assert dominant_hz(audio[1600:24000], 16000) == pytest.approx(440.0, rel=0.01)


def test_an_sf3_font_renders_the_notes_of_its_sf2(rendered, timgm_sf2, tmp_path):
    """SF3 keeps its samples as Ogg Vorbis: the same notes come out, up to the codec's loss."""
    sf3 = sf2_to_sf3(timgm_sf2, tmp_path / "TimGM6mb.sf3")  # same stem, so the same instrument names and splits
    report = render_soundfont(sf3, tmp_path / "out", programs=PROGRAMS, pitches=PITCHES, velocities=VELOCITIES)
    assert report.notes == rendered[1].notes and report.skipped == rendered[1].skipped
    from_sf2, from_sf3 = read_dataset(rendered[0]), read_dataset(tmp_path / "out")
    for split, notes in from_sf2.items():
        assert [n.note_str for n in notes] == [n.note_str for n in from_sf3[split]]
        for a, b in zip(notes, from_sf3[split]):
            x, y = read_audio(a), read_audio(b)
            rms_x, rms_y = (np.sqrt(np.mean(v[:63_000].reshape(63, -1) ** 2, axis=1)) for v in (x, y))
            assert np.abs(rms_x - rms_y).max() < 0.1 * rms_x.max() + 1e-4, a.note_str  # the same envelope
            assert np.corrcoef(x, y)[0, 1] > 0.8, a.note_str


def test_notes_are_dry_and_start_from_silence(timgm_sf2):
    synth = SoundfontSynth(timgm_sf2, 16000)
    try:
        assert synth.synth.get_setting("synth.reverb.active") == 0
        assert synth.synth.get_setting("synth.chorus.active") == 0
        synth.render(16, 60, 127)
        synth.synth.noteon(0, 48, 127)  # a note left sounding, as a long tail would be
        audio = synth.render(79, 69, 127)
    finally:
        synth.close()
    assert np.abs(audio[:32]).max() < 0.005 and np.abs(audio).max() > 0.05


def test_missing_or_corrupt_font_is_one_clear_error(timgm_sf2, tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        render_soundfont(tmp_path / "gone.sf2", tmp_path / "out")
    (tmp_path / "text.sf2").write_text("not a soundfont")
    with pytest.raises(DatasetError, match="is not a SoundFont"):
        render_soundfont(tmp_path / "text.sf2", tmp_path / "out")
    (tmp_path / "cut.sf2").write_bytes(timgm_sf2.read_bytes()[:100_000])
    with pytest.raises(DatasetError, match="cut.sf2 cannot be read"):
        render_soundfont(tmp_path / "cut.sf2", tmp_path / "out")
    with pytest.raises(DatasetError, match="pitches must be 0-127"):
        render_soundfont(timgm_sf2, tmp_path / "out", pitches=[200])
    with pytest.raises(DatasetError, match="none of the programs"):
        render_soundfont(timgm_sf2, tmp_path / "out", programs=[121, 122])
