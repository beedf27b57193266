"""SFZ reading: inheritance, syntax corners, errors with locations, and polyphone's real output."""

import logging
import shutil
import time
import wave
from pathlib import Path

import pytest

from livesampler.rt.sfz import LOOP_MODES, SfzError, parse_sfz, note_number


def make_wav(path: Path, frames: int = 100, rate: int = 44100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * frames)
    return path


def write_sfz(folder: Path, text: str, name: str = "test.sfz", samples=("a.wav",)) -> Path:
    for s in samples:
        make_wav(folder / s)
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --------------------------------------------------------------------------
# Note names

@pytest.mark.parametrize("text, number", [
    ("60", 60), ("0", 0), ("127", 127), ("c4", 60), ("C4", 60), ("c#4", 61), ("db4", 61), ("DB4", 61),
    ("a0", 21), ("c8", 108), ("c-1", 0), ("g9", 127), ("b3", 59), ("cb4", 59), ("e#4", 65), (" a4 ", 69),
])
def test_note_number(text, number):
    assert note_number(text) == number


@pytest.mark.parametrize("text", ["", "h4", "c", "c#", "4c", "c 4", "60.5", "middle c"])
def test_note_number_rejects(text):
    with pytest.raises(ValueError):
        note_number(text)


# --------------------------------------------------------------------------
# Structure and inheritance

def test_defaults(tmp_path):
    f = parse_sfz(write_sfz(tmp_path, "<region> sample=a.wav\n"))
    (r,) = f.regions
    assert r.sample == tmp_path / "a.wav"
    assert (r.lokey, r.hikey, r.pitch_keycenter, r.lovel, r.hivel) == (0, 127, 60, 1, 127)
    assert (r.tune, r.transpose, r.volume, r.pan, r.offset, r.end) == (0, 0, 0, 0, 0, None)
    assert (r.loop_mode, r.loop_start, r.loop_end) == (None, None, None)
    assert (r.ampeg_delay, r.ampeg_attack, r.ampeg_hold, r.ampeg_decay) == (0, 0, 0, 0)
    assert (r.ampeg_sustain, r.ampeg_release, r.amp_veltrack) == (100, 0.001, 100)
    assert r.source == "test.sfz:1"
    assert f.ignored_opcodes == ()
    assert f.path == tmp_path / "test.sfz"


def test_inheritance_and_reset(tmp_path):
    text = """\
<global> volume=-6 pan=10 tune=5 ampeg_release=2
<master> pan=20 transpose=1
<group> sample=a.wav lokey=10 hikey=20 tune=7
<region> lovel=64
<region> tune=-3 volume=1
<group> hikey=30
<region> sample=b.wav
<master> ampeg_release=3
<region> sample=b.wav
<global>
<region> sample=b.wav
"""
    f = parse_sfz(write_sfz(tmp_path, text, samples=("a.wav", "b.wav")))
    r1, r2, r3, r4, r5 = f.regions
    # group > master > global, region > all
    assert (r1.sample.name, r1.volume, r1.pan, r1.tune, r1.transpose, r1.lokey, r1.hikey, r1.lovel,
            r1.ampeg_release) == ("a.wav", -6, 20, 7, 1, 10, 20, 64, 2)
    assert (r2.tune, r2.volume, r2.lovel) == (-3, 1, 1)  # region opcodes do not leak into the next region
    # A new <group> forgets the old group's sample, lokey and tune; master and global stay.
    assert (r3.sample.name, r3.lokey, r3.hikey, r3.tune, r3.pan, r3.transpose) == ("b.wav", 0, 30, 5, 20, 1)
    # A new <master> forgets the old master and the group under it.
    assert (r4.pan, r4.transpose, r4.hikey, r4.ampeg_release, r4.volume) == (10, 0, 127, 3, -6)
    # A new <global> forgets everything.
    assert (r5.volume, r5.pan, r5.ampeg_release) == (0, 0, 0.001)
    assert [r.source for r in f.regions] == ["test.sfz:4", "test.sfz:5", "test.sfz:7", "test.sfz:9", "test.sfz:11"]


def test_key_shorthand(tmp_path):
    text = """\
<group> key=c4
<region> sample=a.wav
<region> sample=a.wav hikey=64
<region> sample=a.wav key=a0 pitch_keycenter=20
<region> sample=a.wav pitch_keycenter=20 key=e4
"""
    r1, r2, r3, r4 = parse_sfz(write_sfz(tmp_path, text)).regions
    assert (r1.lokey, r1.hikey, r1.pitch_keycenter) == (60, 60, 60)
    assert (r2.lokey, r2.hikey, r2.pitch_keycenter) == (60, 64, 60)
    assert (r3.lokey, r3.hikey, r3.pitch_keycenter) == (21, 21, 20)  # the later opcode wins
    assert (r4.lokey, r4.hikey, r4.pitch_keycenter) == (64, 64, 64)


def test_note_names_in_file(tmp_path):
    text = "<region> sample=a.wav lokey=A0 hikey=c#4 pitch_keycenter=Db4\n"
    (r,) = parse_sfz(write_sfz(tmp_path, text)).regions
    assert (r.lokey, r.hikey, r.pitch_keycenter) == (21, 61, 61)


def test_all_region_opcodes(tmp_path):
    text = """\
<region> sample=a.wav lokey=1 hikey=2 pitch_keycenter=3 lovel=4 hivel=5 tune=-12.5 transpose=-2
volume=-3.5 pan=-100 offset=7 end=99 loop_mode=loop_sustain loop_start=10 loop_end=90
ampeg_delay=0.1 ampeg_attack=0.2 ampeg_hold=0.3 ampeg_decay=0.4 ampeg_sustain=50 ampeg_release=0.6
amp_veltrack=-25
"""
    (r,) = parse_sfz(write_sfz(tmp_path, text)).regions
    assert (r.lokey, r.hikey, r.pitch_keycenter, r.lovel, r.hivel, r.tune, r.transpose) == (1, 2, 3, 4, 5, -12.5, -2)
    assert (r.volume, r.pan, r.offset, r.end) == (-3.5, -100, 7, 99)
    assert (r.loop_mode, r.loop_start, r.loop_end) == ("loop_sustain", 10, 90)
    assert (r.ampeg_delay, r.ampeg_attack, r.ampeg_hold, r.ampeg_decay, r.ampeg_sustain, r.ampeg_release) == \
        (0.1, 0.2, 0.3, 0.4, 50, 0.6)
    assert r.amp_veltrack == -25
    assert isinstance(r.lokey, int) and isinstance(r.end, int) and isinstance(r.tune, float)


def test_loop_aliases(tmp_path):
    text = "<region> sample=a.wav loopmode=one_shot loopstart=3 loopend=40\n"
    (r,) = parse_sfz(write_sfz(tmp_path, text)).regions
    assert (r.loop_mode, r.loop_start, r.loop_end) == ("one_shot", 3, 40)


def test_lovel_zero_reads_as_one(tmp_path):
    (r,) = parse_sfz(write_sfz(tmp_path, "<region> sample=a.wav lovel=0\n")).regions
    assert r.lovel == 1


def test_integral_float_accepted_for_int_opcode(tmp_path):
    (r,) = parse_sfz(write_sfz(tmp_path, "<region> sample=a.wav end=9338.0\n")).regions
    assert r.end == 9338


def test_headers_and_opcodes_on_one_line_without_spaces(tmp_path):
    text = "<group>lokey=5<region>sample=a.wav<region>sample=a.wav hikey=9\n"
    r1, r2 = parse_sfz(write_sfz(tmp_path, text)).regions
    assert (r1.lokey, r1.hikey, r1.sample.name) == (5, 127, "a.wav")
    assert (r2.lokey, r2.hikey) == (5, 9)


def test_crlf_and_latin1(tmp_path):
    make_wav(tmp_path / "Bösendorfer.wav")
    path = tmp_path / "x.sfz"
    path.write_bytes("// caf\xe9\r\n<region>\r\nsample=B\xf6sendorfer.wav\r\nlokey=3\r\n".encode("latin-1"))
    (r,) = parse_sfz(path).regions
    assert (r.sample.name, r.lokey, r.source) == ("Bösendorfer.wav", 3, "x.sfz:2")


# --------------------------------------------------------------------------
# Comments, paths, preprocessor

def test_comments(tmp_path):
    text = """\
// <region> sample=missing.wav
<region> sample=a.wav lokey=3 // hikey=4
/* <region> sample=missing.wav
   lokey=200 */ hikey=50
<region> /* inline */ sample=a.wav /* lokey=9 */ lokey=10
"""
    r1, r2 = parse_sfz(write_sfz(tmp_path, text)).regions
    assert (r1.lokey, r1.hikey) == (3, 50)
    assert (r2.lokey, r2.source) == (10, "test.sfz:5")  # line numbers survive a multi-line comment


def test_sample_paths_with_spaces_and_backslashes(tmp_path):
    text = """\
<region> sample=Grand Piano\\Soft C4.wav lokey=60 hikey=62
<region> sample=Grand Piano/Soft C4.wav   
<region>sample=Grand Piano\\Soft C4.wav<region>sample=a.wav
"""
    make_wav(tmp_path / "Grand Piano" / "Soft C4.wav")
    r1, r2, r3, r4 = parse_sfz(write_sfz(tmp_path, text)).regions
    want = tmp_path / "Grand Piano" / "Soft C4.wav"
    assert r1.sample == r2.sample == r3.sample == want
    assert (r1.lokey, r1.hikey) == (60, 62)
    assert r4.sample == tmp_path / "a.wav"


def test_default_path(tmp_path):
    text = """\
<control> default_path=..\\Samples Dir\\
<region> sample=x.wav
<control>
<region> sample=y.wav
"""
    make_wav(tmp_path / "Samples Dir" / "x.wav")
    sfz = write_sfz(tmp_path / "programs", text, samples=("y.wav",))
    r1, r2 = parse_sfz(sfz).regions
    assert r1.sample.resolve() == (tmp_path / "Samples Dir" / "x.wav").resolve()
    assert r2.sample == tmp_path / "programs" / "y.wav"  # a new <control> drops default_path


def test_case_insensitive_sample_fallback(tmp_path):
    make_wav(tmp_path / "Samples" / "Piano C4.WAV")
    sfz = write_sfz(tmp_path, "<region> sample=samples\\piano c4.wav\n", samples=())
    (r,) = parse_sfz(sfz).regions
    assert r.sample == tmp_path / "Samples" / "Piano C4.WAV"


def test_check_samples_false_does_not_touch_samples(tmp_path):
    sfz = write_sfz(tmp_path, "<region> sample=nowhere\\x.wav\n", samples=())
    (r,) = parse_sfz(sfz, check_samples=False).regions
    assert r.sample == tmp_path / "nowhere" / "x.wav"


def test_define_and_include(tmp_path):
    make_wav(tmp_path / "inc" / "s" / "b.wav")
    (tmp_path / "inc").mkdir(exist_ok=True)
    # The include's sample path is relative to the top file's folder (SFZ resolves samples
    # against the instrument, not the included fragment), its own includes to itself.
    (tmp_path / "inc" / "part.sfz").write_text('<region> sample=$DIR/b.wav key=$KEY\n#include "more.sfz"\n')
    (tmp_path / "inc" / "more.sfz").write_text("#define $VOL -12\n<region> sample=a.wav\n")
    text = """\
#define $KEY 62
#define $KEYCENTER 70
#define $DIR inc/s
<group> pitch_keycenter=$KEYCENTER
#include "inc\\part.sfz"
<region> sample=a.wav volume=$VOL
"""
    r1, r2, r3 = parse_sfz(write_sfz(tmp_path, text)).regions
    assert (r1.sample.name, r1.lokey, r1.pitch_keycenter, r1.source) == ("b.wav", 62, 62, "part.sfz:1")
    assert (r2.sample, r2.pitch_keycenter, r2.source) == (tmp_path / "a.wav", 70, "more.sfz:2")
    assert (r3.volume, r3.source) == (-12, "test.sfz:6")  # defines made inside includes persist


def test_unknown_opcodes_reported_once(tmp_path, caplog):
    text = """\
<control> set_cc1=64
<global> cutoff=500 fil_type=lpf_2p
<group> cutoff=800
<region> sample=a.wav cutoff=900 amplfo_freq=4 group=1 off_by=1
<region> sample=a.wav cutoff=1000
<effect> type=reverb bus=main
<region> sample=a.wav
"""
    with caplog.at_level(logging.WARNING, logger="livesampler.rt.sfz"):
        f = parse_sfz(write_sfz(tmp_path, text))
    assert f.ignored_opcodes == ("<effect>", "amplfo_freq", "cutoff", "fil_type", "group", "off_by", "set_cc1")
    assert len(f.regions) == 3
    warnings = [r for r in caplog.records if r.name == "livesampler.rt.sfz"]
    assert len(warnings) == 1
    assert "cutoff" in warnings[0].getMessage() and "test.sfz" in warnings[0].getMessage()


def test_no_warning_for_clean_file(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="livesampler.rt.sfz"):
        parse_sfz(write_sfz(tmp_path, "<region> sample=a.wav\n"))
    assert not caplog.records


# --------------------------------------------------------------------------
# Errors: each names the place to fix

def parse_error(tmp_path, text, **kw) -> str:
    path = write_sfz(tmp_path, text)
    with pytest.raises(SfzError) as e:
        parse_sfz(path, **kw)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_error_file_not_found(tmp_path):
    with pytest.raises(SfzError, match="not found.*nope.sfz"):
        parse_sfz(tmp_path / "nope.sfz")


@pytest.mark.parametrize("line, opcode", [
    ("lokey=abc", "lokey"), ("hikey=h4", "hikey"), ("tune=sharp", "tune"), ("end=12.5", "end"),
    ("volume=", "volume"), ("volume=nan", "volume"), ("loop_mode=forever", "loop_mode"),
    ("lokey=60 junk", "lokey"), ("ampeg_release=-1", "ampeg_release"), ("offset=-5", "offset"),
    ("pan=150", "pan"), ("ampeg_sustain=101", "ampeg_sustain"), ("amp_veltrack=-101", "amp_veltrack"),
    ("lokey=128", "lokey"), ("hikey=-1", "hikey"), ("key=c10", "key"), ("lovel=128", "lovel"),
    ("hivel=0", "hivel"), ("transpose=200", "transpose"), ("sample=*sine", "sample"),
])
def test_error_bad_value_names_file_line_opcode(tmp_path, line, opcode):
    msg = parse_error(tmp_path, f"<global>\n<region> sample=a.wav\n{line}\n")
    assert f"test.sfz:3: {opcode}=" in msg


def test_error_region_without_sample(tmp_path):
    msg = parse_error(tmp_path, "<group> lokey=1\n\n<region> lokey=2\n<region> sample=a.wav\n")
    assert "test.sfz:3" in msg and "sample" in msg


def test_error_missing_sample_names_region_and_path(tmp_path):
    text = "<region> sample=a.wav\n<group>\n<region>\nsample=sub\\gone.wav\n"
    msg = parse_error(tmp_path, text)
    assert "test.sfz:3" in msg and str(tmp_path / "sub" / "gone.wav") in msg


@pytest.mark.parametrize("text, line", [
    ("<region sample=a.wav\n", 1),
    ("<group>\n<region> sample=a.wav\n<region\n", 3),
    ("<region> sample=a.wav lokey=1 <group\n", 1),
    ("<>\n", 1),
])
def test_error_unclosed_header(tmp_path, text, line):
    msg = parse_error(tmp_path, text)
    assert f"test.sfz:{line}:" in msg and "header" in msg


@pytest.mark.parametrize("text, what", [
    ("<region> sample=a.wav lokey=70 hikey=60\n", "lokey"),
    ("<region> sample=a.wav lovel=100 hivel=20\n", "lovel"),
    ("<region> sample=a.wav loop_start=50 loop_end=10\n", "loop_start"),
])
def test_error_inverted_ranges(tmp_path, text, what):
    msg = parse_error(tmp_path, text)
    assert "test.sfz:1" in msg and what in msg


def test_error_inverted_range_across_levels(tmp_path):
    msg = parse_error(tmp_path, "<group> lokey=100\n<region> sample=a.wav hikey=50\n")
    assert "test.sfz:2" in msg and "lokey=100" in msg


def test_error_opcode_before_header(tmp_path):
    assert "test.sfz:2" in parse_error(tmp_path, "// hi\nlokey=3\n<region> sample=a.wav\n")


def test_error_stray_text(tmp_path):
    assert "test.sfz:2" in parse_error(tmp_path, "<region> sample=a.wav\nhello world\n")


def test_error_unclosed_block_comment(tmp_path):
    assert "test.sfz:2" in parse_error(tmp_path, "<region> sample=a.wav\n/* never\nclosed\n")


def test_error_include_problems(tmp_path):
    assert "test.sfz:2" in parse_error(tmp_path, '<global>\n#include "missing.sfz"\n')
    (tmp_path / "loop.sfz").write_text('#include "test.sfz"\n')
    assert "loop.sfz:1" in parse_error(tmp_path, '#include "loop.sfz"\n')
    assert "test.sfz:1" in parse_error(tmp_path, "#define NAME 3\n")
    assert "test.sfz:1" in parse_error(tmp_path, "#if 1\n")


def test_error_location_inside_include(tmp_path):
    (tmp_path / "part.sfz").write_text("<region> sample=a.wav\n\nlokey=xyz\n")
    msg = parse_error(tmp_path, '<global>\n#include "part.sfz"\n')
    assert "part.sfz:3: lokey=" in msg


# --------------------------------------------------------------------------
# Real files: TimGM6mb converted by polyphone

def test_polyphone_timgm6mb(timgm_sfz_dir, caplog):
    files = sorted(timgm_sfz_dir.glob("*/*.sfz"))
    assert len(files) > 100  # one per preset
    # polyphone writes Windows separators; the parser must cope.
    assert "sample=..\\samples\\" in (timgm_sfz_dir / "000" / "000_Piano 1.sfz").read_text()

    start = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="livesampler.rt.sfz"):
        parsed = {f"{f.parent.name}/{f.name}": parse_sfz(f) for f in files}
    assert time.perf_counter() - start < 10

    # One warning per file at most, and what it ignores is synthesis detail, not playback basics.
    assert len(caplog.records) <= len(files)
    for sfz in parsed.values():
        assert sfz.regions, sfz.path
        assert not {"sample", "lokey", "hikey", "pitch_keycenter", "tune", "volume"} & set(sfz.ignored_opcodes)
    assert "cutoff" in parsed["000/000_Piano 1.sfz"].ignored_opcodes

    frames_of: dict[Path, int] = {}
    modes = set()
    for sfz in parsed.values():
        for r in sfz.regions:
            assert r.sample.is_file() and r.sample.parent.name == "samples"
            if r.sample not in frames_of:
                with wave.open(str(r.sample)) as w:
                    frames_of[r.sample] = w.getnframes()
            frames = frames_of[r.sample]
            modes.add(r.loop_mode)
            assert 0 <= r.lokey <= r.hikey <= 127 and 1 <= r.lovel <= r.hivel <= 127
            # SFZ end and loop_end are inclusive frame indices.
            assert r.end is not None and r.offset <= r.end < frames
            if r.loop_mode in ("loop_continuous", "loop_sustain"):
                assert r.loop_start is not None and r.loop_end is not None
                assert r.offset <= r.loop_start < r.loop_end <= r.end
    assert modes <= set(LOOP_MODES) and "loop_continuous" in modes and "no_loop" in modes

    piano = parsed["000/000_Piano 1.sfz"].regions
    covered = {k for r in piano for k in range(r.lokey, r.hikey + 1)}
    assert set(range(21, 109)) <= covered
    assert all(r.loop_mode == "loop_continuous" for r in piano)
    # The drum kit maps single keys to their own samples.
    kit = parsed["128/000_Standard.sfz"].regions
    assert sum(r.lokey == r.hikey for r in kit) > 40


def test_soundfont_conversion_errors(tmp_path):
    from livesampler.rt.soundfont import SoundfontError, convert_soundfont, find_preset

    with pytest.raises(SoundfontError, match="does not exist"):
        convert_soundfont(tmp_path / "none.sf2", tmp_path / "out")
    (tmp_path / "junk.sf2").write_bytes(b"not a soundfont")
    if shutil.which("polyphone"):
        with pytest.raises(SoundfontError, match="could not convert"):
            convert_soundfont(tmp_path / "junk.sf2", tmp_path / "out")
    with pytest.raises(SoundfontError, match="no preset"):
        find_preset(tmp_path, bank=0, program=0)


def test_converted_soundfont_finds_gm_programs(timgm_sfz_dir):
    from livesampler.rt.soundfont import find_preset

    assert find_preset(timgm_sfz_dir, 0, 0).name == "000_Piano 1.sfz"
    assert find_preset(timgm_sfz_dir, 128, 0).name == "000_Standard.sfz"
