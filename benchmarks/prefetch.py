"""How often a key plays its own generated sample, against the generator's speed.

    python benchmarks/prefetch.py MIDI... --rate SAMPLES_PER_S [--policy prefetch|on_demand] [--json]

Each MIDI file is played offline through the real engine, sample cache,
scheduler and generation loop, on a new instrument with an empty cache chosen
when the piece starts; the generator makes ``--rate`` notes per second of
simulated time (a parameter, so CPU and GPU speeds can both be tried). The
notes it makes are simple tones: what is measured is which sample each note-on
finds, not how it sounds. Over all note-ons of all files: the share that sounded
at once, that played their own (pitch, velocity layer) sample, that borrowed a
neighbour's (and how far, in semitones), and the time until the instrument was
full.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from livesampler.config import PrefetchConfig  # noqa: E402
from livesampler.gen.simulate import play_offline  # noqa: E402
from livesampler.gen.spec import InstrumentSpec  # noqa: E402

PIECES = Path(__file__).resolve().parent / "pieces"


class ToneModel:
    """A decaying harmonic tone per note: cheap, and its pitch is the note's."""

    sample_rate = 16000

    def generate(self, spec, notes, progress=None):
        t = np.arange(int(1.0 * self.sample_rate)) / self.sample_rate
        out = []
        for pitch, layer in notes:
            f = 440.0 * 2 ** ((pitch - 69) / 12)
            tone = sum(np.sin(2 * np.pi * f * h * t) / h for h in (1, 2, 3) if f * h < self.sample_rate / 2)
            out.append((layer / 127 * 0.3 * np.exp(-3 * t) * tone).astype(np.float32))
        return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("midi", nargs="*", type=Path, help="MIDI files (default: every piece in benchmarks/pieces)")
    parser.add_argument("--rate", type=float, required=True, help="notes the generator makes per second")
    parser.add_argument("--policy", choices=("prefetch", "on_demand"), default="prefetch")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    files = args.midi or sorted(PIECES.glob("*.mid"))
    prefetch = replace(PrefetchConfig(), policy=args.policy)
    rows, totals = [], {"notes": 0, "sounded": 0.0, "own": 0.0, "borrowed": 0.0, "borrow_st": 0.0, "after": 0.0}
    fills = []
    for path in files:
        spec = InstrumentSpec.make(f"benchmark tone {path.stem}")
        f = play_offline(path, ToneModel(), args.rate, prefetch, spec, batch_size=args.batch_size)
        row = asdict(f)
        row["fill_seconds"] = None if np.isnan(f.fill_seconds) else f.fill_seconds  # JSON has no NaN
        rows.append({"piece": path.name, **row})
        n = f.notes
        totals["notes"] += n
        totals["sounded"] += f.sounded_at_once * n
        totals["own"] += f.own_sample * n
        totals["borrowed"] += f.borrowed * n
        totals["borrow_st"] += f.mean_borrow_semitones * f.borrowed * n
        totals["after"] += f.sounded_after_first_sample * n
        fills.append(f.fill_seconds)
        if not args.json:
            print(f"{path.name:34s} {n:5d} notes  at once {f.sounded_at_once:6.1%}  own {f.own_sample:6.1%}  "
                  f"borrowed {f.borrowed:6.1%} ({f.mean_borrow_semitones:.2f} st)  full after {f.fill_seconds:.0f} s",
                  flush=True)
    n = max(totals["notes"], 1)
    summary = {
        "rate": args.rate,
        "policy": args.policy,
        "notes": totals["notes"],
        "sounded_at_once": round(totals["sounded"] / n, 4),
        "sounded_after_first_sample": round(totals["after"] / n, 4),
        "own_sample": round(totals["own"] / n, 4),
        "borrowed": round(totals["borrowed"] / n, 4),
        "mean_borrow_semitones": round(totals["borrow_st"] / max(totals["borrowed"], 1e-9), 3),
        # The slowest piece's; null when a policy never fills the instrument (on_demand).
        "fill_seconds": None if any(np.isnan(fills)) else round(max(fills), 1),
        "pieces": rows,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{'all':34s} {totals['notes']:5d} notes  at once {summary['sounded_at_once']:6.1%}  "
              f"own {summary['own_sample']:6.1%}  borrowed {summary['borrowed']:6.1%} "
              f"({summary['mean_borrow_semitones']:.2f} st)  full after {summary['fill_seconds']} s")


if __name__ == "__main__":
    main()
