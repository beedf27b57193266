"""The engine: MIDI semantics, voice allocation and the mix of each block.

Events are plain tuples ``(status, channel, data1, data2)`` with the MIDI
status nibble (``NOTE_ON``...), channel 0-15 and, for pitch bend, the 14-bit
value in ``data1``. Any thread may ``push`` one; the audio thread drains them at
the start of the next block, so MIDI never touches the voices while the mixer
runs and no lock is shared. An offline render passes events with the frame at
which they happen instead, and the same code applies them there.

Voice allocation:
- a re-pressed key takes over from its own voice: the old sound fades out over
  ``fade_ms`` while the new one starts (a key never stacks copies of itself);
- over the polyphony limit the oldest released voice is stolen, else the
  oldest; a stolen voice fades out over ``fade_ms`` rather than stopping dead;
- fading voices use spare rows (a quarter of the polyphony), so a steal never
  waits for a fade to end.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence

import numpy as np

from livesampler.config import EngineConfig
from livesampler.rt.instrument import LAYER_OF_VELOCITY, Instrument, Region, velocity_gain
from livesampler.rt.samples import SampleBank
from livesampler.rt.voices import (
    ATTACK,
    DELAY,
    HOLD,
    PLAYING,
    count_playing,
    count_sounding,
    exp_coeff,
    fade_out,
    find_free,
    latch_held,
    lift_keys,
    mix,
    new_voices,
    pick_victim,
    quietest_fading,
    release_unheld,
    soft_limit,
)

NOTE_OFF, NOTE_ON, CONTROL, PROGRAM, BEND = 0x80, 0x90, 0xB0, 0xC0, 0xE0

CC_DATA_MSB, CC_DATA_LSB = 6, 38
CC_SUSTAIN, CC_SOSTENUTO = 64, 66
CC_DATA_INC, CC_DATA_DEC = 96, 97
CC_NRPN_LSB, CC_NRPN_MSB, CC_RPN_LSB, CC_RPN_MSB = 98, 99, 100, 101
CC_ALL_SOUND_OFF, CC_RESET_CONTROLLERS, CC_ALL_NOTES_OFF = 120, 121, 123
RPN_NULL = (127, 127)
RPN_BEND_RANGE = (0, 0)

# A flood of MIDI (a stuck controller, a sequencer dumping a file) is spread
# over several blocks rather than overrunning one.
MAX_EVENTS_PER_BLOCK = 256

# Counters the host reports (rt/ namespace).
# own_sample / borrowed / borrow_semitones count note-ons of generated
# instruments: played by the key's own (pitch, velocity layer) sample, or by a
# neighbour resampled to the key (with the summed pitch distance).
COUNTERS = ("events", "ignored", "notes", "stolen", "cut", "silent_notes", "own_sample", "borrowed", "borrow_semitones")


# Records the play log holds: the generation side reads it every few
# milliseconds, so only a flood of MIDI could outrun this many.
PLAY_LOG_SIZE = 4096


class PlayLog:
    """The note-ons and program changes the engine applied, with the slot each one played.

    The engine alone decides which slot a channel plays (a program change naming
    no slot is ignored): anything that must agree with it, such as the
    generation side choosing what to make, follows this log instead of the MIDI
    it was given. Records are ``(status, slot, key, velocity)``: ``(NOTE_ON,
    slot, key, velocity)`` or ``(PROGRAM, slot, 0, 0)``.

    One writer (the audio thread) fills preallocated rows and never waits; one
    reader on another thread copies them out. A reader more than ``size``
    records behind loses the oldest.
    """

    def __init__(self, size: int = PLAY_LOG_SIZE):
        self.size = size
        self.rows = [0] * (4 * size)
        self.written = 0  # records written so far; row ``n % size`` holds record ``n``

    def write(self, status: int, slot: int, key: int, velocity: int) -> None:
        """Append a record. Audio thread: four stores into a list that exists already."""
        at = (self.written % self.size) * 4
        rows = self.rows
        rows[at] = status
        rows[at + 1] = slot
        rows[at + 2] = key
        rows[at + 3] = velocity
        self.written += 1  # last: a reader never sees a record half written

    def read(self, since: int) -> tuple[list[tuple[int, int, int, int]], int, int]:
        """The records from number ``since`` on: ``(records, next since, records lost)``. Not the audio thread."""
        end = self.written
        first = max(since, end - self.size)
        rows, size = self.rows, self.size
        records = [tuple(rows[(n % size) * 4:(n % size) * 4 + 4]) for n in range(first, end)]
        # The writer may have come round to some of these rows while they were
        # copied (it may be half way through the row of record ``written``):
        # those records are lost, not read wrong.
        overwritten = self.written - size + 1
        if overwritten > first:
            records = records[overwritten - first:]
            first = min(overwritten, end)
        return records, end, first - since


class Engine:
    """Voices and channels. ``process`` and ``render`` run on the audio thread."""

    def __init__(self, cfg: EngineConfig, sample_rate: int, instruments: Sequence[Instrument], bank: SampleBank):
        if not instruments:
            raise ValueError("the engine needs at least one instrument")
        self.cfg = cfg
        self.sample_rate = sample_rate
        self.bank = bank
        self.instruments = list(instruments)
        self.polyphony = cfg.polyphony
        self.voices = new_voices(cfg.polyphony + max(8, cfg.polyphony // 4))
        self.gain = 10.0 ** (cfg.gain_db / 20.0)
        self.fade_step = 1.0 / max(1.0, cfg.fade_ms * 1e-3 * sample_rate)
        self.min_release = cfg.fade_ms * 1e-3  # shorter releases click
        self.events: deque = deque()
        self.played = PlayLog()
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.bend = np.ones(16)  # rate factor per channel, read by the mixer
        self._age = 0
        self.blocks = 0  # blocks made so far: other threads wait on it to know a block has passed
        self.reset()

    def reset(self) -> None:
        """Silence everything and put every channel back to its start-up state."""
        self.voices["state"] = 0
        self.bend[:] = 1.0
        self.bend_value = [8192] * 16
        self.bend_range = [self.cfg.pitch_bend_range] * 16
        self.sustain = [False] * 16
        self.sostenuto = [False] * 16
        self.rpn = [RPN_NULL] * 16
        self.program = [0] * 16

    @property
    def active_voices(self) -> int:
        return count_playing(self.voices)

    def push(self, event: tuple) -> None:
        """Queue an event for the next block. Any thread."""
        self.events.append(event)

    def process(self, out: np.ndarray) -> None:
        """Fill ``out`` [frames, 2] float32 with the next block. Audio thread."""
        out.fill(0.0)
        events = self.events
        for _ in range(min(len(events), MAX_EVENTS_PER_BLOCK)):
            self.handle(events.popleft())
        frames = out.shape[0]
        mix(self.voices, self.bank.data, self.bend, out, 0, frames)
        soft_limit(out, frames, self.gain, self.cfg.limiter_threshold)
        self.blocks += 1

    def render(self, out: np.ndarray, timed_events: Iterable[tuple[int, tuple]] = ()) -> None:
        """Fill ``out`` with events applied at their frames (sorted, within the block)."""
        out.fill(0.0)
        data = self.bank.data
        at = 0
        for frame, event in timed_events:
            if frame > at:
                mix(self.voices, data, self.bend, out, at, frame)
                at = frame
            self.handle(event)
        frames = out.shape[0]
        if at < frames:
            mix(self.voices, data, self.bend, out, at, frames)
        soft_limit(out, frames, self.gain, self.cfg.limiter_threshold)
        self.blocks += 1

    # MIDI semantics.

    def handle(self, event: tuple) -> None:
        """Apply one event. Anything malformed is counted and dropped, never raised."""
        self.counters["events"] += 1
        try:
            status, channel, a, b = event
            if not (0 <= channel < 16 and 0 <= a < 16384 and 0 <= b < 128):
                raise ValueError
            if status == NOTE_ON and b > 0 and a < 128:
                self.note_on(channel, a, b)
            elif status == NOTE_OFF or (status == NOTE_ON and a < 128):
                self.note_off(channel, a)
            elif status == CONTROL and a < 128:
                self.control(channel, a, b)
            elif status == BEND:
                self.pitch_bend(channel, a)
            elif status == PROGRAM and a < len(self.instruments):
                self.program[channel] = a
                self.played.write(PROGRAM, a, 0, 0)
            else:
                raise ValueError
        except (ValueError, TypeError):
            self.counters["ignored"] += 1

    def note_on(self, channel: int, key: int, velocity: int) -> None:
        slot = self.program[channel]
        instrument = self.instruments[slot]
        regions = instrument.keymap[key][velocity]
        self.counters["notes"] += 1
        self.played.write(NOTE_ON, slot, key, velocity)  # silent ones too: the key wants a sample
        if not regions:
            self.counters["silent_notes"] += 1
            return
        first = instrument.regions[regions[0]]
        if first.velocity_ref:
            distance = abs(round(first.keycenter) - key)
            if distance == 0 and first.velocity_ref == LAYER_OF_VELOCITY[velocity]:
                self.counters["own_sample"] += 1
            else:
                self.counters["borrowed"] += 1
                self.counters["borrow_semitones"] += distance
        fade_out(self.voices, channel, key, self.fade_step)
        self._age += 1
        for index in regions:
            self._start_voice(instrument.regions[index], channel, key, velocity)

    def note_off(self, channel: int, key: int) -> None:
        lift_keys(self.voices, channel, key)
        release_unheld(self.voices, channel, self.sustain[channel])

    def control(self, channel: int, cc: int, value: int) -> None:
        if cc == CC_SUSTAIN:
            self.sustain[channel] = value >= 64
            release_unheld(self.voices, channel, self.sustain[channel])
        elif cc == CC_SOSTENUTO:
            down = value >= 64
            if down != self.sostenuto[channel]:
                self.sostenuto[channel] = down
                latch_held(self.voices, channel, 1 if down else 0)
                release_unheld(self.voices, channel, self.sustain[channel])
        elif cc == CC_ALL_NOTES_OFF:
            lift_keys(self.voices, channel, -1)  # the pedals still hold what they hold
            release_unheld(self.voices, channel, self.sustain[channel])
        elif cc == CC_ALL_SOUND_OFF:
            self.counters["cut"] += fade_out(self.voices, channel, -1, self.fade_step)
        elif cc == CC_RESET_CONTROLLERS:
            self.pitch_bend(channel, 8192)
            self.sustain[channel] = False
            self.sostenuto[channel] = False
            self.rpn[channel] = RPN_NULL
            latch_held(self.voices, channel, 0)
            release_unheld(self.voices, channel, False)
        elif cc == CC_RPN_MSB:
            self.rpn[channel] = (value, self.rpn[channel][1])
        elif cc == CC_RPN_LSB:
            self.rpn[channel] = (self.rpn[channel][0], value)
        elif cc in (CC_NRPN_MSB, CC_NRPN_LSB):
            self.rpn[channel] = RPN_NULL  # data entry now goes to an NRPN, which we do not use
        elif cc in (CC_DATA_MSB, CC_DATA_LSB, CC_DATA_INC, CC_DATA_DEC):
            self._data_entry(channel, cc, value)
        else:
            self.counters["ignored"] += 1

    def _data_entry(self, channel: int, cc: int, value: int) -> None:
        if self.rpn[channel] != RPN_BEND_RANGE:
            self.counters["ignored"] += 1
            return
        semitones, cents = divmod(round(self.bend_range[channel] * 100), 100)
        if cc == CC_DATA_MSB:
            semitones, cents = value, 0  # an MSB alone sets whole semitones
        elif cc == CC_DATA_LSB:
            cents = min(value, 99)
        elif cc == CC_DATA_INC:
            semitones = min(semitones + 1, 127)
        else:
            semitones = max(semitones - 1, 0)
        self.bend_range[channel] = semitones + cents / 100.0
        self.pitch_bend(channel, self.bend_value[channel])

    def pitch_bend(self, channel: int, value: int) -> None:
        self.bend_value[channel] = value
        semitones = (value - 8192) / 8192.0 * self.bend_range[channel]
        self.bend[channel] = 2.0 ** (semitones / 12.0)

    # Voices.

    def _allocate(self) -> int:
        voices = self.voices
        if count_sounding(voices) >= self.polyphony:
            victim = pick_victim(voices)
            voices[victim]["fade_step"] = self.fade_step
            self.counters["stolen"] += 1
        slot = find_free(voices)
        if slot < 0:
            # Every spare row is still fading: cut the quietest of them.
            slot = quietest_fading(voices)
        return slot

    def _start_voice(self, region: Region, channel: int, key: int, velocity: int) -> None:
        sr = self.sample_rate
        ref = region.sample
        gain = region.gain * velocity_gain(velocity, region.veltrack, self.cfg.velocity_exponent, region.velocity_ref)
        # Constant-power pan: centre is -3 dB on each side.
        angle = (region.pan + 1.0) * (np.pi / 4.0)
        release = self.cfg.release if region.release is None else region.release
        delay_frames = round(region.delay * sr)
        v = self.voices[self._allocate()]
        v["state"] = PLAYING
        attack_frames = region.attack * sr
        if delay_frames > 0:
            v["stage"], v["stage_left"], v["level"] = DELAY, delay_frames, 0.0
        elif attack_frames >= 1.0:
            v["stage"], v["stage_left"], v["level"] = ATTACK, 0, 0.0
        else:
            # Full level from the first frame: a note released in the block it
            # started in is still heard, with its release.
            v["stage"], v["stage_left"], v["level"] = HOLD, round(region.hold * sr), 1.0
        v["loop_mode"] = region.loop_mode
        v["wrapped"] = 0
        v["key_down"] = 1
        v["latched"] = 0
        v["channel"] = channel
        v["key"] = key
        v["age"] = self._age
        v["start"] = ref.start
        v["start_r"] = ref.start_r
        v["end"] = region.end
        v["loop_start"] = ref.loop_start
        v["loop_end"] = ref.loop_end
        v["pos"] = float(region.offset)
        v["rate"] = region.rate(key)
        v["attack_step"] = 1.0 / max(1.0, attack_frames)
        v["hold_frames"] = round(region.hold * sr)
        v["decay_coeff"] = exp_coeff(region.decay, sr)
        v["sustain"] = region.sustain
        v["release_coeff"] = exp_coeff(max(release, self.min_release), sr)
        v["fade"] = 1.0
        v["fade_step"] = 0.0
        v["gain_l"] = gain * np.cos(angle)
        v["gain_r"] = gain * np.sin(angle)
