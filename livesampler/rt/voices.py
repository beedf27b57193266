"""The voice pool and the mixing kernel.

Every voice lives in one preallocated structured array (``VOICE_DTYPE``); a free
voice is a row whose ``state`` is ``FREE``. Everything that touches all voices
is compiled with numba: the mixer runs a tight loop over the playing voices and
their frames, allocates nothing, and releases the GIL while it runs, so that
the MIDI thread and the rest of the host go on while the audio thread mixes.
Its cost grows with the number of playing voices only.

Positions are in frames of the sample, which the bank stores at the output
sample rate, 3 zero frames padded on each side (so that the interpolator never
reads outside it). Loops are ``[loop_start, loop_end)`` with an integer length
(the bank makes them so), which keeps every wrap seamless.
"""

from __future__ import annotations

import numpy as np
from numba import njit

FREE, PLAYING = 0, 1

# Envelope stages (SFZ's ampeg: delay, attack, hold, decay, sustain, release).
DELAY, ATTACK, HOLD, DECAY, SUSTAIN, RELEASE = range(6)

# Loop behaviour, as SFZ's loop_mode.
NO_LOOP, ONE_SHOT, LOOP_CONTINUOUS, LOOP_SUSTAIN = range(4)

# A level below this (-80 dB) is silence: the voice ends.
SILENCE = 1e-4

# The limiter's output never reaches full scale, even after rounding to float32.
CEILING = 0.999

VOICE_DTYPE = np.dtype(
    [
        ("state", np.int8),
        ("stage", np.int8),
        ("loop_mode", np.int8),
        ("wrapped", np.int8),  # has passed loop_end once: taps before loop_start read the loop's tail
        ("key_down", np.int8),  # the key that started it is still held
        ("latched", np.int8),  # held by the sostenuto pedal
        ("channel", np.int16),
        ("key", np.int16),
        ("age", np.int64),  # note-on counter: smaller is older
        ("start", np.int64),  # index of the sample's frame 0 in the bank (left or mono)
        ("start_r", np.int64),  # the right channel's frame 0 (== start for mono samples)
        ("end", np.int64),  # frames, exclusive
        ("loop_start", np.int64),
        ("loop_end", np.int64),
        ("stage_left", np.int64),  # frames left in delay, attack or hold
        ("pos", np.float64),
        ("rate", np.float64),  # frames per output frame before pitch bend
        ("level", np.float64),  # envelope level, 0..1
        ("attack_step", np.float64),
        ("hold_frames", np.int64),
        ("decay_coeff", np.float64),
        ("sustain", np.float64),
        ("release_coeff", np.float64),
        ("fade", np.float64),  # 1, or falling to 0 for a stolen or cut voice
        ("fade_step", np.float64),  # > 0 while fading
        ("gain_l", np.float64),
        ("gain_r", np.float64),
    ]
)


def new_voices(capacity: int) -> np.ndarray:
    return np.zeros(capacity, dtype=VOICE_DTYPE)


def exp_coeff(seconds: float, sample_rate: float) -> float:
    """Per-frame multiplier that falls 60 dB in ``seconds`` (SFZ decay/release times)."""
    frames = max(seconds * sample_rate, 1.0)
    return 10.0 ** (-3.0 / frames)


@njit(nogil=True, cache=True, inline="always")
def _hermite(x0, x1, x2, x3, t):
    # 4-point, 3rd-order Hermite (Catmull-Rom): continuous slope across taps.
    c1 = 0.5 * (x2 - x0)
    c2 = x0 - 2.5 * x1 + 2.0 * x2 - 0.5 * x3
    c3 = 0.5 * (x3 - x0) + 1.5 * (x1 - x2)
    return ((c3 * t + c2) * t + c1) * t + x1


@njit(nogil=True, cache=True, inline="always")
def _tap(j, loop_start, loop_end, looping, wrapped):
    """Index of frame ``j`` of a sample, folded into the loop where it repeats."""
    if looping and j >= loop_end:
        return j - (loop_end - loop_start)
    if wrapped and j < loop_start:
        return j + (loop_end - loop_start)
    return j


@njit(nogil=True, cache=True)
def mix(voices, data, bend, out, first, last):
    """Add every playing voice into ``out[first:last]`` (stereo). Audio thread.

    ``bend`` holds each MIDI channel's pitch-bend rate factor. A voice that ends
    (sample over, envelope silent, fade done) is marked FREE here.
    """
    for v in range(voices.shape[0]):
        vc = voices[v]
        if vc.state != PLAYING:
            continue
        stage = vc.stage
        level = vc.level
        stage_left = vc.stage_left
        fade = vc.fade
        fade_step = vc.fade_step
        pos = vc.pos
        wrapped = vc.wrapped
        rate = vc.rate * bend[vc.channel]
        start = vc.start
        start_r = vc.start_r
        stereo = start_r != start
        end = vc.end
        ls = vc.loop_start
        le = vc.loop_end
        mode = vc.loop_mode
        gain_l = vc.gain_l
        gain_r = vc.gain_r
        alive = True
        for i in range(first, last):
            # Envelope.
            if stage == DELAY:
                stage_left -= 1
                if stage_left <= 0:
                    stage = ATTACK
                continue  # a delayed voice waits: the sample starts with the attack
            if stage == ATTACK:
                level += vc.attack_step
                if level >= 1.0:
                    level = 1.0
                    stage = HOLD
                    stage_left = vc.hold_frames
            elif stage == HOLD:
                stage_left -= 1
                if stage_left <= 0:
                    stage = DECAY
            elif stage == DECAY:
                level *= vc.decay_coeff
                if level <= vc.sustain:
                    level = vc.sustain
                    stage = SUSTAIN
            elif stage == RELEASE:
                level *= vc.release_coeff
            if level < SILENCE and stage >= DECAY:
                alive = False
                break
            if fade_step > 0.0:
                fade -= fade_step
                if fade <= 0.0:
                    alive = False
                    break

            # The sample, interpolated.
            looping = mode == LOOP_CONTINUOUS or (mode == LOOP_SUSTAIN and stage != RELEASE)
            ip = int(pos)
            t = pos - ip
            if looping or wrapped:
                j0 = _tap(ip - 1, ls, le, looping, wrapped)
                j1 = _tap(ip, ls, le, looping, wrapped)
                j2 = _tap(ip + 1, ls, le, looping, wrapped)
                j3 = _tap(ip + 2, ls, le, looping, wrapped)
            else:
                j0, j1, j2, j3 = ip - 1, ip, ip + 1, ip + 2
            g = level * fade
            s = _hermite(data[start + j0], data[start + j1], data[start + j2], data[start + j3], t)
            out[i, 0] += s * (g * gain_l)
            if stereo:
                s = _hermite(data[start_r + j0], data[start_r + j1], data[start_r + j2], data[start_r + j3], t)
            out[i, 1] += s * (g * gain_r)

            pos += rate
            if looping and pos >= le:
                pos -= le - ls
                wrapped = 1
            elif pos >= end:
                alive = False
                break
        if not alive:
            vc.state = FREE
            continue
        vc.stage = stage
        vc.level = level
        vc.stage_left = stage_left
        vc.fade = fade
        vc.pos = pos
        vc.wrapped = wrapped


@njit(nogil=True, cache=True)
def soft_limit(out, frames, gain, threshold):
    """Master gain, then a soft knee above ``threshold`` that stays below ``CEILING``. Audio thread."""
    span = CEILING - threshold
    for i in range(frames):
        for c in range(out.shape[1]):
            x = out[i, c] * gain
            a = abs(x)
            if a > threshold:
                a = threshold + span * np.tanh((a - threshold) / span)
                x = a if x > 0 else -a
            out[i, c] = x


# Voice management. All of these walk the pool once and allocate nothing.


@njit(nogil=True, cache=True)
def count_sounding(voices):
    """Playing voices that are not fading out: what polyphony counts."""
    n = 0
    for v in range(voices.shape[0]):
        if voices[v].state == PLAYING and voices[v].fade_step == 0.0:
            n += 1
    return n


@njit(nogil=True, cache=True)
def find_free(voices):
    for v in range(voices.shape[0]):
        if voices[v].state == FREE:
            return v
    return -1


@njit(nogil=True, cache=True)
def pick_victim(voices):
    """The voice to steal: the oldest released one, else the oldest."""
    oldest, oldest_released = -1, -1
    for v in range(voices.shape[0]):
        vc = voices[v]
        if vc.state != PLAYING or vc.fade_step > 0.0:
            continue
        if oldest < 0 or vc.age < voices[oldest].age:
            oldest = v
        if vc.stage == RELEASE and (oldest_released < 0 or vc.age < voices[oldest_released].age):
            oldest_released = v
    return oldest_released if oldest_released >= 0 else oldest


@njit(nogil=True, cache=True)
def quietest_fading(voices):
    best = -1
    for v in range(voices.shape[0]):
        vc = voices[v]
        if vc.state == PLAYING and vc.fade_step > 0.0 and (best < 0 or vc.fade < voices[best].fade):
            best = v
    return best


@njit(nogil=True, cache=True)
def fade_out(voices, channel, key, fade_step):
    """Fade the voices of ``key`` on ``channel`` (-1: any), or all with key -1. Returns how many."""
    n = 0
    for v in range(voices.shape[0]):
        vc = voices[v]
        if vc.state != PLAYING or vc.fade_step > 0.0:
            continue
        if (channel < 0 or vc.channel == channel) and (key < 0 or vc.key == key):
            vc.fade_step = fade_step
            n += 1
    return n


@njit(nogil=True, cache=True)
def lift_keys(voices, channel, key):
    """The key (or every key, with -1) on ``channel`` went up."""
    for v in range(voices.shape[0]):
        vc = voices[v]
        if vc.state == PLAYING and vc.channel == channel and (key < 0 or vc.key == key):
            vc.key_down = 0


@njit(nogil=True, cache=True)
def latch_held(voices, channel, latched):
    """Sostenuto: latch (1) the voices whose keys are down now, or unlatch (0) all."""
    for v in range(voices.shape[0]):
        vc = voices[v]
        if vc.state == PLAYING and vc.channel == channel:
            if latched == 0:
                vc.latched = 0
            elif vc.key_down:
                vc.latched = 1


@njit(nogil=True, cache=True)
def release_unheld(voices, channel, sustain_down):
    """Start the release of every voice on ``channel`` that nothing holds any more."""
    for v in range(voices.shape[0]):
        vc = voices[v]
        if vc.state != PLAYING or vc.channel != channel or vc.stage == RELEASE:
            continue
        if vc.key_down or vc.latched or sustain_down or vc.loop_mode == ONE_SHOT:
            continue
        if vc.stage == DELAY:
            vc.state = FREE  # not heard yet
        else:
            vc.stage = RELEASE


@njit(nogil=True, cache=True)
def count_playing(voices):
    n = 0
    for v in range(voices.shape[0]):
        if voices[v].state == PLAYING:
            n += 1
    return n


def compile_all(voices: np.ndarray, data: np.ndarray, bend: np.ndarray, out: np.ndarray) -> None:
    """Call every kernel once, on a copy of ``voices``, with the engine's argument types.

    numba compiles (or loads from its cache) on the first call; that must not be
    a note-on on the audio thread.
    """
    scratch = voices.copy()
    mix(scratch, data, bend, out, 0, 0)
    soft_limit(out, 0, 1.0, 0.5)
    count_sounding(scratch)
    count_playing(scratch)
    find_free(scratch)
    pick_victim(scratch)
    quietest_fading(scratch)
    fade_out(scratch, 0, -1, 0.5)
    lift_keys(scratch, 0, -1)
    latch_held(scratch, 0, 0)
    release_unheld(scratch, 0, False)


KERNELS = (mix, soft_limit, count_sounding, count_playing, find_free, pick_victim, quietest_fading,
           fade_out, lift_keys, latch_held, release_unheld)
