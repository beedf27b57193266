"""Audio out: a PortAudio output stream (sounddevice) whose callback runs the engine."""

from __future__ import annotations

import time

import sounddevice as sd

from livesampler.config import AudioConfig
from livesampler.rt.engine import Engine
from livesampler.rt.native import silenced_stderr


class AudioError(Exception):
    """An output that cannot be opened; the message says what to do."""


def list_outputs() -> list[dict]:
    """Output devices: index, name, host API, channels, default sample rate."""
    try:
        with silenced_stderr():
            devices = sd.query_devices()
            apis = sd.query_hostapis()
    except sd.PortAudioError as e:
        raise AudioError(f"PortAudio cannot list devices: {e}") from None
    return [
        {
            "index": d["index"],
            "name": d["name"],
            "hostapi": apis[d["hostapi"]]["name"],
            "channels": d["max_output_channels"],
            "sample_rate": d["default_samplerate"],
        }
        for d in devices
        if d["max_output_channels"] > 0
    ]


def find_output(wanted: str) -> int | None:
    """Device index for ``wanted`` (exact name or unique substring); None = default."""
    outputs = list_outputs()
    if not outputs:
        raise AudioError("no audio output device exists here (no sound card, no JACK server running)")
    if not wanted:
        return None
    exact = [o for o in outputs if o["name"] == wanted]
    matches = exact or [o for o in outputs if wanted.lower() in o["name"].lower()]
    if len(matches) == 1:
        return matches[0]["index"]
    listed = ", ".join(repr(o["name"]) for o in (matches or outputs))
    if not matches:
        raise AudioError(f"no audio output matches {wanted!r} (outputs: {listed}); see `livesampler devices`")
    raise AudioError(f"audio output {wanted!r} is ambiguous ({listed}); give more of the name")


class AudioOutput:
    """A running output stream. Counts underflows and the callback's cost.

    ``underflows`` are the blocks PortAudio flags as late, whoever was late: on
    JACK, an xrun of any client in the graph. ``overruns`` are the blocks that
    took this callback longer to make than they last: this host's own lateness.
    """

    def __init__(self, cfg: AudioConfig, engine: Engine, sample_rate: int | None = None):
        self.engine = engine
        self.underflows = 0
        self.callbacks = 0
        self.busy_seconds = 0.0  # time spent inside the callback
        self.max_callback_seconds = 0.0
        self.overruns = 0
        device = find_output(cfg.device)
        try:
            with silenced_stderr():
                self._stream = sd.OutputStream(
                    samplerate=sample_rate or cfg.sample_rate,
                    blocksize=cfg.block_size,
                    device=device,
                    channels=2,
                    dtype="float32",
                    latency=cfg.latency,
                    callback=self._callback,
                )
        except (sd.PortAudioError, ValueError) as e:
            raise AudioError(
                f"cannot open audio output {cfg.device or 'default'!r} at {sample_rate or cfg.sample_rate} Hz: {e}"
            ) from None
        self.sample_rate = int(self._stream.samplerate)
        self.block_seconds = self._stream.blocksize / self.sample_rate
        self.device_name = sd.query_devices(self._stream.device)["name"]

    def _callback(self, outdata, frames, time_info, status) -> None:
        """Audio thread: the engine's block, nothing else."""
        started = time.perf_counter()
        if status.output_underflow:
            self.underflows += 1
        self.engine.process(outdata)
        spent = time.perf_counter() - started
        self.callbacks += 1
        self.busy_seconds += spent
        if spent > self.max_callback_seconds:
            self.max_callback_seconds = spent
        if spent > self.block_seconds:
            self.overruns += 1

    @property
    def latency(self) -> float:
        return self._stream.latency

    def start(self) -> None:
        self._stream.start()

    def close(self) -> None:
        self._stream.stop()
        self._stream.close()
