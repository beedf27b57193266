"""Does generation disturb the audio? The live host on a JACK server, with and without the generator working.

Starts ``jackd`` with the dummy driver (no sound card needed; a server name of
its own), loads the shipped models (config.toml's [model], on the CPU), and
plays a MIDI piece in real time into ``play --prompt``'s host for
``--seconds``: once with the generator process making notes flat out, once
with the sampler alone on the same instrument (the baseline). Reports, for both, what the audio callback saw: underflows
(JACK's xruns of the whole graph), the callback's mean share of a block, its
longest run and the blocks it overran, garbage collections, and how many
notes the generator made.

    python benchmarks/load.py [--seconds 60] [--midi PIECE.mid] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MIDI = ROOT / "benchmarks" / "pieces" / "mozart_k545_exposition.mid"
SR, PERIOD = 48000, 128


def start_jackd(name: str, log: Path) -> subprocess.Popen:
    jackd = shutil.which("jackd")
    if jackd is None:
        sys.exit("load: jackd is not installed (Debian: apt-get install jackd2)")
    import jack

    with open(log, "wb") as out:
        proc = subprocess.Popen([jackd, "-n", name, "--realtime", "-d", "dummy", "-r", str(SR), "-p", str(PERIOD)],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    jack.set_error_function(lambda message: None)  # "cannot connect" while it starts
    deadline = time.monotonic() + 10
    while True:
        try:
            jack.Client("load-probe", no_start_server=True, servername=name).close()
            break
        except jack.JackError:
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"load: jackd did not start: {log.read_text(errors='replace')[-400:]}")
            time.sleep(0.05)
    jack.set_error_function(None)
    return proc


def run(config, source, spec, midi: Path, seconds: float, generate: bool) -> dict:
    from livesampler.gen.host import PromptHost
    from livesampler.rt.render import read_events

    host = PromptHost(config, source, [spec])  # loads what is on disk: nothing the first time
    events = read_events(midi, config.audio.sample_rate)[0]
    stop = threading.Event()
    if generate:
        host.start(midi=False)
    else:
        host.host.start(midi=False)  # the same host and notes, the generator and its loop not started
    player = threading.Thread(target=host.host.play_events, args=(events, stop), daemon=True)
    started = time.monotonic()
    player.start()
    stop.wait(seconds)
    stop.set()
    wall = time.monotonic() - started
    host.close()
    stats = host.stats()
    return {
        "generator": generate,
        "seconds": round(wall, 1),
        "underflows": stats["rt/underflows"],
        "callbacks": stats["rt/callbacks"],
        "callback_mean_share": round(stats["rt/callback_mean_share"], 4),
        "callback_max_ms": round(stats["rt/callback_max_ms"], 3),
        "overruns": stats["rt/overruns"],
        "gc_collections": stats["rt/gc_collections"],
        "notes_played": stats["rt/notes"],
        "notes_made": stats["gen/made"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each run (default 60)")
    parser.add_argument("--midi", type=Path, default=DEFAULT_MIDI, help="piece played into the host")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    name = f"livesampler-load-{os.getpid()}"
    os.environ["JACK_DEFAULT_SERVER"] = name  # PortAudio's JACK host API and its children use it
    with tempfile.TemporaryDirectory() as temp:
        temp = Path(temp)
        jackd = start_jackd(name, temp / "jackd.log")
        try:
            from livesampler.config import load_config

            # The shipped models, as `play --prompt` uses them, on the CPU.
            shipped = load_config(ROOT / "config.toml")
            config = replace(
                shipped,
                audio=replace(shipped.audio, device="system", sample_rate=SR, block_size=PERIOD),
                midi=replace(shipped.midi, api="jack"),
                cache=replace(shipped.cache, dir=str(temp / "cache")),
                model=replace(shipped.model, device="cpu"),
            )
            from livesampler.gen.model import configured_source

            source = configured_source(config)
            spec = source.spec("warm analog pad", seed=secrets.randbits(31))  # a new instrument
            # First the generator fills an empty cache while the piece plays; then the
            # piece again on the notes it made, nothing else running.
            runs = [run(config, source, spec, args.midi, args.seconds, generate) for generate in (True, False)]
        finally:
            import sounddevice

            sounddevice._terminate()  # PortAudio's JACK client leaves before its server does
            jackd.send_signal(signal.SIGTERM)
            jackd.wait(10)
        log = (temp / "jackd.log").read_text(errors="replace")
    result = {"cpu_count": os.cpu_count(), "period_frames": PERIOD, "sample_rate": SR, "midi": args.midi.name,
              "jackd_realtime": "Cannot use real-time scheduling" not in log, "runs": runs}
    if args.json:
        print(json.dumps(result))
        return
    print(f"{args.midi.name} played for {args.seconds:.0f} s per run into a JACK dummy server, "
          f"{PERIOD} frames at {SR} Hz ({PERIOD / SR * 1e3:.2f} ms), {os.cpu_count()} cores, "
          f"jackd real-time scheduling: {'yes' if result['jackd_realtime'] else 'no'}")
    print(f"{'generator':>10} {'underflows':>10} {'callbacks':>9} {'mean share':>10} {'max ms':>7} "
          f"{'overruns':>8} {'gc':>3} {'played':>6} {'made':>5}")
    for r in runs:
        print(f"{'working' if r['generator'] else 'off':>10} {r['underflows']:>10} {r['callbacks']:>9} "
              f"{r['callback_mean_share']:>10.2%} {r['callback_max_ms']:>7.3f} "
              f"{r['overruns']:>8} {r['gc_collections']:>3} "
              f"{r['notes_played']:>6} {r['notes_made']:>5}")


if __name__ == "__main__":
    main()
