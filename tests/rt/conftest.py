"""Instruments made in memory for engine tests: sines, at a known pitch and level."""

import numpy as np
import pytest

from livesampler.config import EngineConfig
from livesampler.rt.engine import Engine
from livesampler.rt.instrument import Instrument, Region
from livesampler.rt.samples import SampleBank
from livesampler.rt.voices import LOOP_CONTINUOUS, NO_LOOP

SR = 48000
BLOCK = 128


def hz(pitch: float) -> float:
    return 440.0 * 2 ** ((pitch - 69) / 12)


def sine(pitch: float, seconds: float, rate: int = SR, level: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * hz(pitch) * t)).astype(np.float32)


def region(ref, keycenter, loop_mode=NO_LOOP, **env) -> Region:
    params = dict(delay=0.0, attack=0.0, hold=0.0, decay=0.0, sustain=1.0, release=0.1, veltrack=1.0)
    params.update(env)
    return Region(sample=ref, keycenter=float(keycenter), gain=1.0, pan=0.0, offset=0, end=ref.frames,
                  loop_mode=loop_mode, **params)


def single_region_instrument(r: Region, name="test") -> Instrument:
    keymap = tuple(tuple((0,) for _ in range(128)) for _ in range(128))
    return Instrument(name, [r], keymap)


def looped_sine(bank, freq=441.0, rate=44100, seconds=1.0, **env) -> Instrument:
    """A sine whose loop is a whole number of periods at ``rate`` (441 Hz: 100 frames at 44.1 kHz)."""
    t = np.arange(int(seconds * rate)) / rate
    audio = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    loop_len = round(rate / freq) * 50
    end = audio.shape[0] - 1000
    ref = bank.add(audio, rate, (end - loop_len, end))
    return single_region_instrument(region(ref, 69, LOOP_CONTINUOUS, **env))  # key 69 plays it at `freq`


def make_engine(instruments, bank, **cfg) -> Engine:
    cfg.setdefault("gain_db", 0.0)
    cfg.setdefault("limiter_threshold", 0.99)
    return Engine(EngineConfig(**cfg), SR, instruments, bank)


def run(engine: Engine, seconds: float) -> np.ndarray:
    """Process blocks as the audio callback would; returns the output [frames, 2]."""
    blocks = max(1, round(seconds * SR / BLOCK))
    out = np.zeros((blocks * BLOCK, 2), np.float32)
    for b in range(blocks):
        engine.process(out[b * BLOCK:(b + 1) * BLOCK])
    return out


def dominant_hz(x: np.ndarray, rate: int = SR) -> float:
    """Frequency of the strongest partial, refined by parabolic interpolation."""
    w = np.hanning(len(x))
    spec = np.abs(np.fft.rfft(x * w, n=8 * len(x)))
    k = int(np.argmax(spec[1:])) + 1
    a, b, c = np.log(spec[k - 1: k + 2] + 1e-12)
    k = k + 0.5 * (a - c) / (a - 2 * b + c)
    return k * rate / (8 * len(x))


@pytest.fixture
def bank():
    return SampleBank(SR)
