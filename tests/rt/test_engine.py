"""MIDI behaviour of the engine, voice stealing, envelopes, bend and velocity layers."""

import numpy as np
import pytest

from livesampler.rt.engine import BEND, CONTROL, NOTE_OFF, NOTE_ON, PROGRAM
from livesampler.rt.instrument import VELOCITY_LAYERS, Instrument, velocity_gain
from livesampler.rt.voices import PLAYING, RELEASE, count_sounding

from .conftest import SR, dominant_hz, hz, looped_sine, make_engine, run, sine


def cc(ch, number, value):
    return (CONTROL, ch, number, value)


def sounding(engine, key=None):
    """Voices playing and not released, optionally of one key."""
    v = engine.voices
    mask = (v["state"] == PLAYING) & (v["stage"] != RELEASE) & (v["fade_step"] == 0)
    if key is not None:
        mask &= v["key"] == key
    return int(mask.sum())


@pytest.fixture
def organ(bank):
    return make_engine([looped_sine(bank, release=0.05)], bank)


def test_note_on_sounds_and_note_off_releases(organ):
    organ.push((NOTE_ON, 0, 69, 100))
    out = run(organ, 0.1)
    assert np.abs(out).max() > 0.1
    assert sounding(organ, 69) == 1
    organ.push((NOTE_OFF, 0, 69, 0))
    run(organ, 0.01)
    assert sounding(organ) == 0 and organ.active_voices == 1  # releasing
    run(organ, 0.2)  # 0.05 s to -60 dB, then on to -80 dB
    assert organ.active_voices == 0


def test_note_on_with_velocity_zero_is_note_off(organ):
    organ.push((NOTE_ON, 0, 60, 90))
    run(organ, 0.01)
    organ.push((NOTE_ON, 0, 60, 0))
    run(organ, 0.01)
    assert sounding(organ) == 0


def test_sustain_pedal_holds_released_keys(organ):
    organ.push(cc(0, 64, 127))
    organ.push((NOTE_ON, 0, 60, 90))
    organ.push((NOTE_OFF, 0, 60, 0))
    run(organ, 0.05)
    assert sounding(organ, 60) == 1
    organ.push(cc(0, 64, 0))
    run(organ, 0.01)
    assert sounding(organ) == 0


def test_sustain_pedal_is_per_channel(organ):
    organ.push(cc(1, 64, 127))
    organ.push((NOTE_ON, 0, 60, 90))
    organ.push((NOTE_OFF, 0, 60, 0))
    run(organ, 0.01)
    assert sounding(organ) == 0


def test_sostenuto_holds_only_keys_down_when_pressed(organ):
    organ.push((NOTE_ON, 0, 60, 90))
    organ.push(cc(0, 66, 127))
    organ.push((NOTE_OFF, 0, 60, 0))
    organ.push((NOTE_ON, 0, 64, 90))  # pressed after the pedal: not held by it
    organ.push((NOTE_OFF, 0, 64, 0))
    run(organ, 0.02)
    assert sounding(organ, 60) == 1 and sounding(organ, 64) == 0
    organ.push(cc(0, 66, 0))
    run(organ, 0.01)
    assert sounding(organ) == 0


def test_sostenuto_key_still_down_after_pedal_up_keeps_sounding(organ):
    organ.push((NOTE_ON, 0, 60, 90))
    organ.push(cc(0, 66, 127))
    organ.push(cc(0, 66, 0))
    run(organ, 0.01)
    assert sounding(organ, 60) == 1
    organ.push((NOTE_OFF, 0, 60, 0))
    run(organ, 0.01)
    assert sounding(organ) == 0


def test_all_notes_off_is_postponed_by_the_pedals(organ):
    organ.push(cc(0, 64, 127))
    organ.push((NOTE_ON, 0, 60, 90))
    organ.push((NOTE_ON, 0, 62, 90))
    organ.push(cc(0, 123, 0))
    run(organ, 0.05)
    assert sounding(organ) == 2
    organ.push(cc(0, 64, 0))
    run(organ, 0.01)
    assert sounding(organ) == 0


def test_all_notes_off_without_pedal_releases(organ):
    organ.push((NOTE_ON, 0, 60, 90))
    organ.push((NOTE_ON, 0, 62, 90))
    organ.push(cc(0, 123, 0))
    run(organ, 0.01)
    assert sounding(organ) == 0 and organ.active_voices == 2  # release tails, not cut


def test_all_sound_off_cuts_at_once_even_with_pedal(organ):
    organ.push(cc(0, 64, 127))
    organ.push((NOTE_ON, 0, 60, 90))
    run(organ, 0.05)
    organ.push(cc(0, 120, 0))
    out = run(organ, 0.02)
    assert organ.active_voices == 0
    fade_frames = int(organ.cfg.fade_ms * 1e-3 * SR)
    assert np.abs(out[fade_frames + 1:]).max() == 0.0
    assert np.abs(out[: fade_frames // 4]).max() > 0.05  # a fade, not a hard stop


def test_reset_controllers_releases_pedal_and_recentres_bend(organ):
    organ.push(cc(0, 64, 127))
    organ.push((BEND, 0, 16383, 0))
    organ.push((NOTE_ON, 0, 69, 90))
    organ.push((NOTE_OFF, 0, 69, 0))
    run(organ, 0.01)
    assert organ.bend[0] > 1.1 and sounding(organ) == 1
    organ.push(cc(0, 121, 0))
    run(organ, 0.01)
    assert organ.bend[0] == 1.0 and sounding(organ) == 0 and not organ.sustain[0]


def _pitch_of_held_note(engine, key, *events):
    engine.push((NOTE_ON, 0, key, 100))
    for e in events:
        engine.push(e)
    out = run(engine, 0.6)
    return dominant_hz(out[SR // 10:, 0])


def test_pitch_bend_uses_default_range(organ):
    up = _pitch_of_held_note(organ, 69, (BEND, 0, 16383, 0))
    assert up == pytest.approx(441 * 2 ** (2 * 8191 / 8192 / 12), rel=1e-3)


def test_pitch_bend_down(organ):
    down = _pitch_of_held_note(organ, 69, (BEND, 0, 0, 0))
    assert down == pytest.approx(441 * 2 ** (-2 / 12), rel=1e-3)


def test_rpn_zero_sets_bend_range(organ):
    rpn12 = [cc(0, 101, 0), cc(0, 100, 0), cc(0, 6, 12), cc(0, 38, 0), cc(0, 101, 127), cc(0, 100, 127)]
    down = _pitch_of_held_note(organ, 69, *rpn12, (BEND, 0, 0, 0))
    assert down == pytest.approx(441 / 2, rel=1e-3)
    assert organ.bend_range[0] == 12


def test_data_entry_without_rpn_zero_is_ignored(organ):
    organ.push(cc(0, 101, 0))
    organ.push(cc(0, 100, 1))  # RPN 1: fine tuning, not handled
    organ.push(cc(0, 6, 12))
    run(organ, 0.001)
    assert organ.bend_range[0] == 2.0 and organ.counters["ignored"] == 1


def test_bend_applies_to_its_channel_only(organ):
    organ.push((BEND, 3, 0, 0))
    assert _pitch_of_held_note(organ, 69) == pytest.approx(441, rel=1e-3)


def test_program_change_selects_slot(bank):
    low = looped_sine(bank, freq=441.0)
    high = looped_sine(bank, freq=882.0)
    engine = make_engine([low, high], bank)
    assert _pitch_of_held_note(engine, 69, (PROGRAM, 0, 1, 0)) == pytest.approx(441, rel=1e-3)  # program after note
    engine.push(cc(0, 120, 0))
    run(engine, 0.05)
    assert _pitch_of_held_note(engine, 69) == pytest.approx(882, rel=1e-3)
    engine.push((PROGRAM, 0, 5, 0))  # no slot 5: ignored, counted
    run(engine, 0.001)
    assert engine.program[0] == 1 and engine.counters["ignored"] == 1


def test_the_play_log_says_which_slot_each_note_on_played(bank):
    from livesampler.rt.engine import PlayLog

    engine = make_engine([looped_sine(bank), looped_sine(bank)], bank)
    for event in [(NOTE_ON, 0, 60, 100), (PROGRAM, 0, 5, 0), (NOTE_ON, 0, 61, 90), (PROGRAM, 0, 1, 0),
                  (NOTE_ON, 0, 62, 0), (NOTE_ON, 0, 63, 80), (NOTE_ON, 16, 64, 80)]:
        engine.push(event)
    run(engine, 0.001)
    records, since, lost = engine.played.read(0)
    # The program change to a slot that does not exist is not there; channel 0 stays on slot 0.
    assert records == [(NOTE_ON, 0, 60, 100), (NOTE_ON, 0, 61, 90), (PROGRAM, 1, 0, 0), (NOTE_ON, 1, 63, 80)]
    assert (since, lost) == (4, 0) and engine.played.read(since) == ([], 4, 0)

    log = PlayLog(size=4)
    for key in range(10):
        log.write(NOTE_ON, 0, key, 100)
    records, since, lost = log.read(2)  # fell behind: the oldest are lost, the rest are whole
    assert [r[2] for r in records] == [7, 8, 9] and (since, lost) == (10, 5)


@pytest.mark.parametrize(
    "event",
    [(NOTE_ON, 16, 60, 100), (NOTE_ON, 0, 128, 100), (NOTE_ON, 0, 60, 128), (CONTROL, 0, 64), ("x", 0, 1, 2),
     (0xF0, 0, 0, 0), None, (NOTE_ON, 0, -1, 10), (BEND, 0, 20000, 0)],
)
def test_malformed_events_are_counted_not_raised(organ, event):
    organ.push(event)
    run(organ, 0.001)
    assert organ.counters["ignored"] == 1 and organ.active_voices == 0


def test_repressed_key_takes_over_its_voice(organ):
    organ.push(cc(0, 64, 127))
    for _ in range(5):
        organ.push((NOTE_ON, 0, 60, 100))
        organ.push((NOTE_OFF, 0, 60, 0))
        run(organ, 0.02)
    assert sounding(organ, 60) == 1
    assert organ.active_voices == 1  # the earlier ones faded out


def test_stealing_prefers_oldest_released_then_oldest(bank):
    engine = make_engine([looped_sine(bank, release=5.0)], bank, polyphony=3)
    for key in (60, 61, 62):
        engine.push((NOTE_ON, 0, key, 100))
        run(engine, 0.01)
    engine.push((NOTE_OFF, 0, 62, 0))  # the newest, but released
    engine.push((NOTE_ON, 0, 63, 100))
    run(engine, 0.001)
    fading = engine.voices[engine.voices["fade_step"] > 0]
    assert list(fading["key"]) == [62] and engine.counters["stolen"] == 1
    engine.push((NOTE_ON, 0, 64, 100))  # nothing released now: the oldest goes
    run(engine, 0.001)
    fading = engine.voices[(engine.voices["fade_step"] > 0) & (engine.voices["state"] == PLAYING)]
    assert 60 in list(fading["key"])
    assert count_sounding(engine.voices) == 3
    run(engine, 0.05)
    assert sorted(engine.voices[engine.voices["state"] == PLAYING]["key"]) == [61, 63, 64]


def test_stolen_voice_fades_without_a_click(bank):
    engine = make_engine([looped_sine(bank, release=5.0)], bank, polyphony=1)
    engine.push((NOTE_ON, 0, 69, 127))
    before = run(engine, 0.2)
    engine.push((NOTE_ON, 1, 69, 127))  # other channel: a steal, not a re-press
    after = run(engine, 0.02)
    joined = np.concatenate([before, after])[:, 0]
    # A sine of amplitude A changes by at most 2*pi*f/SR*A per frame; a hard cut would jump by up to A.
    step_limit = 3 * 2 * np.pi * 441 / SR * np.abs(before).max()
    assert np.abs(np.diff(joined)).max() < step_limit
    assert engine.counters["stolen"] == 1


def test_pool_holds_256_voices(bank):
    engine = make_engine([looped_sine(bank)], bank, polyphony=256)
    for n in range(256):
        engine.push((NOTE_ON, n % 16, n // 16 + 40, 100))
    run(engine, 0.01)
    assert count_sounding(engine.voices) == 256 and engine.counters["stolen"] == 0


def test_attack_ramps_up_linearly(bank):
    engine = make_engine([looped_sine(bank, attack=0.1)], bank)
    engine.push((NOTE_ON, 0, 69, 127))
    out = run(engine, 0.3)[:, 0]
    frames = int(0.1 * SR)
    peak = lambda a, b: np.abs(out[a:b]).max()
    assert peak(0, frames // 10) < 0.25 * peak(frames, 2 * frames)
    assert peak(frames // 2 - 60, frames // 2 + 60) == pytest.approx(0.5 * peak(frames, 2 * frames), rel=0.05)


def test_decay_reaches_sustain_level(bank):
    engine = make_engine([looped_sine(bank, decay=0.1, sustain=0.25)], bank)
    engine.push((NOTE_ON, 0, 69, 127))
    out = run(engine, 0.5)[:, 0]
    top, settled = np.abs(out[:2000]).max(), np.abs(out[-4800:]).max()
    assert settled == pytest.approx(0.25 * top, rel=0.05)


def test_release_time_is_time_to_minus_60_db(bank):
    engine = make_engine([looped_sine(bank, release=0.2)], bank)
    engine.push((NOTE_ON, 0, 69, 127))
    held = np.abs(run(engine, 0.1)[:, 0]).max()
    engine.push((NOTE_OFF, 0, 69, 0))
    tail = run(engine, 0.4)[:, 0]
    at = int(0.2 * SR)
    assert np.abs(tail[at - 200: at + 200]).max() == pytest.approx(held * 1e-3, rel=0.2)
    assert engine.active_voices == 0


def test_default_release_applies_when_region_has_none(bank):
    engine = make_engine([looped_sine(bank, release=None)], bank, release=0.5)
    engine.push((NOTE_ON, 0, 69, 127))
    run(engine, 0.05)
    engine.push((NOTE_OFF, 0, 69, 0))
    run(engine, 0.5)
    assert engine.active_voices == 1
    run(engine, 0.4)
    assert engine.active_voices == 0


def test_one_shot_ignores_note_off(bank):
    from livesampler.rt.voices import ONE_SHOT

    from .conftest import region, single_region_instrument

    ref = bank.add(sine(69, 0.3), SR)
    engine = make_engine([single_region_instrument(region(ref, 69, ONE_SHOT))], bank)
    engine.push((NOTE_ON, 0, 69, 127))
    engine.push((NOTE_OFF, 0, 69, 0))
    out = run(engine, 0.5)
    assert np.abs(out[int(0.25 * SR):int(0.28 * SR)]).max() > 0.3  # still at full level
    assert engine.active_voices == 0  # ended with its sample


def test_sample_without_loop_ends_with_the_sample(bank):
    from .conftest import region, single_region_instrument

    ref = bank.add(sine(69, 0.2), SR)
    engine = make_engine([single_region_instrument(region(ref, 69))], bank)
    engine.push((NOTE_ON, 0, 69, 100))
    out = run(engine, 0.4)
    assert engine.active_voices == 0 and np.abs(out[int(0.21 * SR):]).max() == 0.0


def test_loop_is_seamless_after_resampling(bank):
    """A looped 441 Hz sine at 44.1 kHz, played at 48 kHz for 2 s: still a pure sine at 441 Hz."""
    engine = make_engine([looped_sine(bank)], bank)
    engine.push((NOTE_ON, 0, 69, 127))
    x = run(engine, 2.0)[SR // 2:, 0].astype(np.float64)
    t = np.arange(len(x)) / SR
    f = dominant_hz(x)
    assert f == pytest.approx(441.0, abs=0.05)
    basis = np.stack([np.sin(2 * np.pi * f * t), np.cos(2 * np.pi * f * t)], 1)
    fit, *_ = np.linalg.lstsq(basis, x, rcond=None)
    residual = x - basis @ fit
    assert np.abs(residual).max() < 1e-3 * np.abs(x).max()  # no click at any wrap: -60 dB


def test_borrowed_key_plays_nearest_sample_at_its_pitch(bank):
    inst = Instrument.from_samples("one", {(60, 100): sine(60, 1.0, 16000)}, 16000, bank)
    engine = make_engine([inst], bank)
    assert _pitch_of_held_note(engine, 64) == pytest.approx(hz(64), rel=1e-3)


def test_velocity_picks_nearest_layer(bank):
    samples = {(60, v): sine(60, 0.5, 16000, level=v / 254) for v in (25, 100)}
    samples[(62, 127)] = sine(62, 0.5, 16000)
    inst = Instrument.from_samples("layers", samples, 16000, bank)
    layer = lambda key, vel: inst.regions[inst.keymap[key][vel][0]].velocity_ref
    assert layer(60, 1) == 25 and layer(60, 62) == 25 and layer(60, 63) == 100 and layer(60, 127) == 100
    assert layer(62, 10) == 127  # the only layer of the nearest pitch
    assert inst.regions[inst.keymap[61][127][0]].keycenter == 60  # ties go to the lower pitch
    assert inst.regions[inst.keymap[0][127][0]].keycenter == 60
    assert inst.regions[inst.keymap[127][1][0]].keycenter == 62


def test_velocity_layers_are_nsynths():
    assert VELOCITY_LAYERS == (25, 50, 75, 100, 127)


def test_velocity_gain_curve():
    assert velocity_gain(127, 1.0, 2.0) == pytest.approx(1.0)
    assert velocity_gain(64, 1.0, 2.0) == pytest.approx((64 / 127) ** 2)
    assert velocity_gain(1, 0.0, 2.0) == 1.0  # amp_veltrack=0: velocity ignored
    assert velocity_gain(100, 1.0, 2.0, reference=100) == pytest.approx(1.0)  # a layer at its own velocity
    assert velocity_gain(127, 1.0, 2.0, reference=100) == pytest.approx((127 / 100) ** 2)
    assert velocity_gain(1, -1.0, 2.0) > velocity_gain(127, -1.0, 2.0)


def test_velocity_scales_gain(organ):
    organ.push((NOTE_ON, 0, 69, 127))
    loud = np.abs(run(organ, 0.1)).max()
    organ.push(cc(0, 120, 0))
    run(organ, 0.05)
    organ.push((NOTE_ON, 0, 69, 64))
    soft = np.abs(run(organ, 0.1)).max()
    assert soft / loud == pytest.approx((64 / 127) ** 2, rel=0.02)


def test_limiter_keeps_output_below_full_scale(bank):
    engine = make_engine([looped_sine(bank)], bank, gain_db=12.0, limiter_threshold=0.8)
    for key in range(40, 80):
        engine.push((NOTE_ON, 0, key, 127))
    out = run(engine, 0.2)
    assert np.isfinite(out).all() and np.abs(out).max() < 1.0 and np.abs(out).max() > 0.8
    assert out.dtype == np.float32


def test_limiter_is_transparent_below_threshold(bank):
    engine = make_engine([looped_sine(bank)], bank, gain_db=0.0, limiter_threshold=0.9)
    engine.push((NOTE_ON, 0, 69, 127))
    out = run(engine, 0.2)
    assert np.abs(out).max() == pytest.approx(0.5 * np.cos(np.pi / 4), rel=1e-3)  # sine level, centre pan


def test_event_flood_is_spread_over_blocks(organ):
    from livesampler.rt.engine import MAX_EVENTS_PER_BLOCK

    for n in range(3 * MAX_EVENTS_PER_BLOCK):
        organ.push((CONTROL, 0, 1, n % 128))  # mod wheel: ignored, but still an event to drain
    run(organ, 128 / SR)
    assert len(organ.events) == 2 * MAX_EVENTS_PER_BLOCK
    run(organ, 2 * 128 / SR)
    assert len(organ.events) == 0 and organ.counters["events"] == 3 * MAX_EVENTS_PER_BLOCK
