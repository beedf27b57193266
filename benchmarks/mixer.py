"""Audio-callback cost against the number of playing voices.

Runs ``Engine.process`` (what the audio callback runs: drain the event queue,
mix every voice, soft-limit) on one core, 48 kHz and 128-frame blocks by
default, with N voices held on looped samples at different pitches (every
voice interpolates) and a pitch bend moving, and reports the time per block as
a share of the block's duration.

    python benchmarks/mixer.py [--voices 32,64,128,256,384,512] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np

from livesampler.config import EngineConfig
from livesampler.rt.engine import BEND, NOTE_ON, Engine
from livesampler.rt.instrument import Instrument, Region
from livesampler.rt.samples import SampleBank
from livesampler.rt.voices import LOOP_CONTINUOUS


def looped_instrument(bank: SampleBank, source_rate: int = 44100) -> Instrument:
    """One looped sample per octave (a saw-ish tone), every key mapped to the nearest."""
    rng = np.random.default_rng(0)
    regions = []
    centres = list(range(24, 109, 12))
    for centre in centres:
        freq = 440.0 * 2 ** ((centre - 69) / 12)
        period = source_rate / freq
        frames = int(source_rate * 0.5)
        t = np.arange(frames)
        audio = (0.3 * ((t / period) % 1.0 - 0.5) + 0.01 * rng.standard_normal(frames)).astype(np.float32)
        loop_len = max(1, round(period * max(1, int(frames / 2 // period))))
        ref = bank.add(audio, source_rate, (frames - loop_len - 100, frames - 100))
        regions.append(Region(sample=ref, keycenter=float(centre), gain=1.0, pan=0.0, offset=0, end=ref.frames,
                              loop_mode=LOOP_CONTINUOUS, delay=0.0, attack=0.005, hold=0.0, decay=1.0,
                              sustain=0.5, release=0.3, veltrack=1.0))
    keymap = tuple(
        tuple((min(range(len(centres)), key=lambda i: abs(centres[i] - key)),) for _ in range(128)) for key in range(128)
    )
    return Instrument("bench-loops", regions, keymap)


def measure(voices: int, sample_rate: int, block: int, blocks: int) -> dict:
    bank = SampleBank(sample_rate)
    instrument = looped_instrument(bank)
    engine = Engine(EngineConfig(polyphony=voices), sample_rate, [instrument], bank)
    out = np.zeros((block, 2), np.float32)
    engine.process(out)  # compile
    # Notes spread over 16 channels so no key repeats on a channel.
    for n in range(voices):
        engine.push((NOTE_ON, n % 16, 21 + (n // 16) * 5 % 88, 100))
    for _ in range(50):  # past the attacks
        engine.process(out)
    assert engine.active_voices == voices, (engine.active_voices, voices)
    times = np.empty(blocks)
    for b in range(blocks):
        engine.push((BEND, b % 16, 8192 + (b * 37) % 2048, 0))
        started = time.perf_counter_ns()
        engine.process(out)
        times[b] = time.perf_counter_ns() - started
    assert engine.active_voices == voices
    duration = block / sample_rate * 1e9
    return {
        "voices": voices,
        "mean_us": times.mean() / 1e3,
        "p99_us": float(np.percentile(times, 99)) / 1e3,
        "share": times.mean() / duration,
        "p99_share": float(np.percentile(times, 99)) / duration,
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--voices", default="32,64,128,192,256,320,384,448,512")
    p.add_argument("--sample-rate", type=int, default=48000)
    p.add_argument("--block", type=int, default=128)
    p.add_argument("--blocks", type=int, default=3000)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, as the audio thread has
    counts = [int(v) for v in args.voices.split(",")]
    rows = [measure(n, args.sample_rate, args.block, args.blocks) for n in counts]
    under = [r["voices"] for r in rows if r["share"] < 0.25]
    best = max(under) if under else 0
    if args.json:
        print(json.dumps({
            "voices": [r["voices"] for r in rows],
            "share_of_block": [round(r["share"], 4) for r in rows],
            "p99_share_of_block": [round(r["p99_share"], 4) for r in rows],
            "max_voices_under_25pct": best,
        }))
        return
    block_us = args.block / args.sample_rate * 1e6
    print(f"callback cost, {args.sample_rate} Hz, {args.block}-frame blocks ({block_us:.0f} us), one core")
    print(f"{'voices':>6} {'mean us':>8} {'p99 us':>8} {'share':>7} {'p99 share':>9}")
    for r in rows:
        print(f"{r['voices']:>6} {r['mean_us']:>8.1f} {r['p99_us']:>8.1f} {r['share']:>7.1%} {r['p99_share']:>9.1%}")
    print(f"largest voice count under 25% of the block: {best}")
    print(f"per voice: {statistics.median((r['mean_us'] for r in rows)) / statistics.median(counts) * 1e3:.0f} ns/block")


if __name__ == "__main__":
    main()
