"""Offline render speed: livesampler against FluidSynth, same piece, same soundfont.

The soundfont is converted to SFZ with Polyphone (once, into a temporary
folder, not timed); livesampler renders the piece through the converted piano
preset, FluidSynth renders it from the original soundfont (``fluidsynth -ni
-F``), both at 48 kHz on one core. FluidSynth is timed with its reverb and
chorus on (its defaults) and off (livesampler has no effects). Times are the
best of ``--runs``; audio seconds per wall second is the figure.

    python benchmarks/render.py [--font FONT.sf2] [--piece SONG.mid ...] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from livesampler.config import EngineConfig
from livesampler.rt.engine import Engine
from livesampler.rt.host import load_instruments, prepare_engine
from livesampler.rt.render import read_events, render
from livesampler.rt.soundfont import convert_soundfont, find_preset

HERE = Path(__file__).resolve().parent
DEFAULT_FONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
DEFAULT_PIECES = [HERE.parent / "livesampler" / "assets" / "demo.mid"]
RATE = 48000


def time_livesampler(sfz: Path, piece: Path, block: int, runs: int) -> dict:
    started = time.perf_counter()
    instruments, bank = load_instruments([sfz], RATE)
    load = time.perf_counter() - started
    engine = Engine(EngineConfig(polyphony=256), RATE, instruments, bank)
    prepare_engine(engine, block)
    events, _ = read_events(piece, RATE)
    best, seconds = float("inf"), 0.0
    for _ in range(runs):
        engine.reset()
        started = time.perf_counter()
        audio = render(engine, events, block)
        best = min(best, time.perf_counter() - started)
        seconds = audio.shape[0] / RATE
    return {"audio_seconds": seconds, "load_seconds": load, "render_seconds": best}


def time_fluidsynth(font: Path, piece: Path, effects: bool, runs: int, out_dir: Path) -> float:
    cmd = ["fluidsynth", "-ni", "-q", "-r", str(RATE), "-F", str(out_dir / "fluidsynth.wav")]
    if not effects:
        cmd += ["-R", "0", "-C", "0"]
    cmd += [str(font), str(piece)]
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        best = min(best, time.perf_counter() - started)
    return best


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--font", type=Path, default=DEFAULT_FONT)
    p.add_argument("--piece", type=Path, action="append", help="MIDI file (repeat); default: the demo piece")
    p.add_argument("--block", type=int, default=128)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    if shutil.which("fluidsynth") is None:
        raise SystemExit("fluidsynth is not installed (apt-get install fluidsynth)")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core for both
    pieces = args.piece or DEFAULT_PIECES
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sfz = find_preset(convert_soundfont(args.font, tmp), bank=0, program=0)
        for piece in pieces:
            ours = time_livesampler(sfz, piece, args.block, args.runs)
            fs_fx = time_fluidsynth(args.font, piece, True, args.runs, tmp)
            fs_dry = time_fluidsynth(args.font, piece, False, args.runs, tmp)
            secs = ours["audio_seconds"]
            rows.append({
                "piece": piece.name,
                "audio_seconds": round(secs, 2),
                "livesampler_x_realtime": round(secs / ours["render_seconds"], 1),
                "livesampler_with_load_x_realtime": round(secs / (ours["render_seconds"] + ours["load_seconds"]), 1),
                "fluidsynth_x_realtime": round(secs / fs_fx, 1),
                "fluidsynth_dry_x_realtime": round(secs / fs_dry, 1),
            })
    if args.json:
        print(json.dumps({"font": args.font.name, "sample_rate": RATE, "block": args.block, "pieces": rows}))
        return
    print(f"{args.font.name}, {RATE} Hz, block {args.block}, one core; audio seconds per wall second (best of {args.runs})")
    print(f"{'piece':<28} {'audio s':>8} {'livesampler':>12} {'+load':>8} {'fluidsynth':>11} {'fs dry':>8}")
    for r in rows:
        print(f"{r['piece']:<28} {r['audio_seconds']:>8.1f} {r['livesampler_x_realtime']:>11.1f}x "
              f"{r['livesampler_with_load_x_realtime']:>7.1f}x {r['fluidsynth_x_realtime']:>10.1f}x "
              f"{r['fluidsynth_dry_x_realtime']:>7.1f}x")


if __name__ == "__main__":
    main()
