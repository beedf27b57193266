"""Offline rendering: a MIDI file through the engine, as fast as the CPU allows.

The engine runs block by block exactly as it does live, but each event is
applied at the frame where it falls inside its block, so the result does not
depend on the block size and is identical from run to run.
"""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import soundfile

from livesampler.rt.engine import Engine
from livesampler.rt.midi import to_event

TAIL_LIMIT_SECONDS = 30.0  # after the last event, render until silence or this long


class RenderError(Exception):
    """A MIDI file or output that cannot be used."""


def read_events(path: str | Path, sample_rate: int) -> tuple[list[tuple[int, tuple]], int]:
    """``[(frame, event)]`` of a MIDI file, in order, and how many messages were unused."""
    try:
        song = mido.MidiFile(str(path))
    except FileNotFoundError:
        raise RenderError(f"MIDI file {path} does not exist") from None
    except (OSError, EOFError, ValueError, KeyError, IndexError) as e:
        raise RenderError(f"{path} is not a readable Standard MIDI File ({e})") from None
    events, unused, seconds = [], 0, 0.0
    for msg in song:  # merged tracks, delta times in seconds with tempo changes applied
        seconds += msg.time
        if msg.is_meta:
            continue
        event = to_event(msg)
        if event is None:
            unused += 1
        else:
            events.append((round(seconds * sample_rate), event))
    return events, unused


def render(engine: Engine, events: list[tuple[int, tuple]], block_size: int) -> np.ndarray:
    """The engine's output [frames, 2] for ``events``, with the release tails."""
    sr = engine.sample_rate
    last = events[-1][0] if events else 0
    limit = last + int(TAIL_LIMIT_SECONDS * sr)
    total = (last // block_size + 1) * block_size
    out = np.zeros((total + int(TAIL_LIMIT_SECONDS * sr) + block_size, 2), np.float32)
    at, e = 0, 0
    while at < limit:
        block = out[at : at + block_size]
        first = e
        while e < len(events) and events[e][0] < at + block_size:
            e += 1
        engine.render(block, [(f - at, ev) for f, ev in events[first:e]])
        at += block_size
        if at > last and e == len(events) and engine.active_voices == 0:
            break
    return out[:at]


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> None:
    """A rendered piece as a 24-bit WAV file."""
    try:
        soundfile.write(str(path), audio, sample_rate, subtype="PCM_24")
    except (OSError, soundfile.LibsndfileError, RuntimeError) as e:
        raise RenderError(f"cannot write {path}: {e}") from None


def render_file(engine: Engine, midi_path: str | Path, out_path: str | Path, block_size: int) -> dict:
    """Render ``midi_path`` to a 24-bit WAV file; returns figures about the run."""
    events, unused = read_events(midi_path, engine.sample_rate)
    audio = render(engine, events, block_size)
    write_wav(out_path, audio, engine.sample_rate)
    return {"seconds": audio.shape[0] / engine.sample_rate, "events": len(events), "unused_messages": unused}
