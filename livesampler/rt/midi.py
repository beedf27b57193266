"""MIDI input: ports through mido over python-rtmidi, messages into engine events.

The input's callback runs on rtmidi's own thread. It turns each message into
an engine event tuple and hands it to a sink (the engine's queue); anything it
cannot use is counted, never raised, so a stray SysEx or a broken controller
never reaches the audio thread.
"""

from __future__ import annotations

from collections.abc import Callable

import mido

from livesampler.config import MidiConfig
from livesampler.rt.engine import BEND, CONTROL, NOTE_OFF, NOTE_ON, PROGRAM
from livesampler.rt.native import silenced_stderr

# config.toml's names for rtmidi's APIs.
APIS = {"alsa": "LINUX_ALSA", "jack": "UNIX_JACK", "coremidi": "MACOSX_CORE", "windows": "WINDOWS_MM"}


class MidiError(Exception):
    """A MIDI port that cannot be opened; the message says what to do."""


def to_event(msg: mido.Message) -> tuple | None:
    """The engine event for ``msg``, or None for messages the engine does not use."""
    kind = msg.type
    if kind == "note_on":
        return (NOTE_ON, msg.channel, msg.note, msg.velocity)
    if kind == "note_off":
        return (NOTE_OFF, msg.channel, msg.note, msg.velocity)
    if kind == "control_change":
        return (CONTROL, msg.channel, msg.control, msg.value)
    if kind == "pitchwheel":
        return (BEND, msg.channel, msg.pitch + 8192, 0)
    if kind == "program_change":
        return (PROGRAM, msg.channel, msg.program, 0)
    return None


def backend(api: str) -> mido.Backend:
    return mido.Backend("mido.backends.rtmidi", api=APIS[api], load=True)


def list_inputs(api: str) -> list[str]:
    try:
        with silenced_stderr():
            return backend(api).get_input_names()
    except Exception as e:  # rtmidi raises its own error types, or SystemError, per API
        raise MidiError(f"MIDI API '{api}' is not usable here ({e}); pick another with midi.api") from None


def resolve_port(wanted: str, names: list[str]) -> str:
    """``wanted`` as an exact port name, else as a substring of exactly one name."""
    if wanted in names:
        return wanted
    matches = [n for n in names if wanted.lower() in n.lower()]
    if len(matches) == 1:
        return matches[0]
    listed = ", ".join(repr(n) for n in names) or "none"
    if not matches:
        raise MidiError(f"no MIDI input matches {wanted!r} (inputs: {listed}); see `livesampler devices`")
    raise MidiError(f"MIDI input {wanted!r} is ambiguous ({', '.join(map(repr, matches))}); give more of the name")


class MessageRouter:
    """Turns messages into events for ``sink``, keeping one channel (or all) and counting the rest.

    Called on rtmidi's thread; never raises.
    """

    def __init__(self, channel: int, sink: Callable[[tuple], None]):
        self.channel = channel - 1  # config's 1-16; -1 listens to all
        self.sink = sink
        self.received = 0
        self.ignored = 0  # message types the engine does not use, and anything that failed to convert
        self.filtered = 0  # on a channel we do not listen to

    def __call__(self, msg: mido.Message) -> None:
        self.received += 1
        try:
            event = to_event(msg)
        except Exception:
            event = None
        if event is None:
            self.ignored += 1
        elif self.channel >= 0 and event[1] != self.channel:
            self.filtered += 1
        else:
            self.sink(event)


class MidiInput:
    """One open input port (named, or virtual) feeding ``sink`` with engine events."""

    def __init__(self, cfg: MidiConfig, sink: Callable[[tuple], None]):
        self.router = MessageRouter(cfg.channel, sink)
        be = backend(cfg.api)
        try:
            if cfg.port:
                self.name = resolve_port(cfg.port, list_inputs(cfg.api))
                with silenced_stderr():
                    self._port = be.open_input(self.name, callback=self.router)
            else:
                self.name = cfg.virtual_name
                with silenced_stderr():
                    self._port = be.open_input(self.name, virtual=True, callback=self.router)
        except MidiError:
            raise
        except Exception as e:
            raise MidiError(
                f"cannot open MIDI input {cfg.port or cfg.virtual_name!r} with API '{cfg.api}' ({e}); "
                "check midi.api (use \"jack\" where there is no ALSA sequencer)"
            ) from None

    def close(self) -> None:
        self._port.close()
