"""MIDI messages into engine events: conversion, channel filter, unusable input."""

import mido
import pytest

from livesampler.rt.engine import BEND, CONTROL, NOTE_OFF, NOTE_ON, PROGRAM
from livesampler.rt.midi import MessageRouter, MidiError, resolve_port, to_event


@pytest.mark.parametrize(
    "msg, event",
    [
        (mido.Message("note_on", channel=2, note=60, velocity=100), (NOTE_ON, 2, 60, 100)),
        (mido.Message("note_on", note=60, velocity=0), (NOTE_ON, 0, 60, 0)),
        (mido.Message("note_off", channel=15, note=1, velocity=64), (NOTE_OFF, 15, 1, 64)),
        (mido.Message("control_change", control=64, value=127), (CONTROL, 0, 64, 127)),
        (mido.Message("pitchwheel", pitch=-8192), (BEND, 0, 0, 0)),
        (mido.Message("pitchwheel", pitch=0), (BEND, 0, 8192, 0)),
        (mido.Message("pitchwheel", pitch=8191), (BEND, 0, 16383, 0)),
        (mido.Message("program_change", channel=9, program=5), (PROGRAM, 9, 5, 0)),
        (mido.Message("aftertouch", value=3), None),
        (mido.Message("sysex", data=[1, 2]), None),
        (mido.Message("clock"), None),
    ],
)
def test_to_event(msg, event):
    assert to_event(msg) == event


def test_router_filters_channel_and_counts():
    got = []
    router = MessageRouter(channel=3, sink=got.append)  # config channel 3 is MIDI channel index 2
    router(mido.Message("note_on", channel=2, note=60, velocity=1))
    router(mido.Message("note_on", channel=0, note=60, velocity=1))
    router(mido.Message("active_sensing"))
    assert got == [(NOTE_ON, 2, 60, 1)]
    assert (router.received, router.filtered, router.ignored) == (3, 1, 1)


def test_router_omni_passes_all_channels():
    got = []
    router = MessageRouter(channel=0, sink=got.append)
    for ch in range(16):
        router(mido.Message("note_on", channel=ch, note=60, velocity=1))
    assert len(got) == 16 and router.filtered == 0


def test_router_never_raises_on_garbage():
    got = []
    router = MessageRouter(channel=0, sink=got.append)
    router(object())  # not even a message
    # Bytes as a broken device sends them: stray data bytes, a truncated note-on, a status with no data.
    parser = mido.Parser()
    parser.feed([0x3C, 0x40, 0x90, 0x3C, 0xF4, 0xB0, 0x90, 0x40, 0x7F])
    for msg in parser:
        router(msg)
    assert router.ignored >= 1
    assert got == [(NOTE_ON, 0, 0x40, 0x7F)]  # only the complete note-on survives


def test_resolve_port_exact_then_unique_substring():
    names = ["Keystation 49 MIDI 1", "Keystation 49 MIDI 2", "Midi Through Port-0"]
    assert resolve_port("Midi Through Port-0", names) == "Midi Through Port-0"
    assert resolve_port("through", names) == "Midi Through Port-0"
    with pytest.raises(MidiError, match="ambiguous"):
        resolve_port("Keystation", names)
    with pytest.raises(MidiError, match="no MIDI input matches"):
        resolve_port("Launchkey", names)
