"""Language-model generation speed: parameters, tokens per second, seconds per 4 s note.

Randomly initialised weights (speed does not depend on training), autoregressive
sampler with the KV cache, top-k 250 and classifier-free guidance (which doubles
the rows of every forward pass), as the generator runs it. A 4 s note is taken
at DAC 44.1 kHz's frame rate: 345 frames, 345 + K - 1 pattern steps (353 for
the paper's 9 codebooks).

Batch 1 runs the real sampler over the whole note. Large batches would take
minutes per preset, so they time ``--steps`` steps at the start of the note and
``--steps`` steps at its end (the KV cache filled to that point); a step's cost
grows linearly with the cached length, so the mean of the two windows times the
number of steps is the whole note. Batch 1 prints the same estimate next to
the measured time as a check.

    python benchmarks/generate.py [--preset pocket|paper] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from livesampler.model.conditions import Conditions
from livesampler.model.lm import LanguageModel, preset
from livesampler.model.sampling import SamplerSettings, generate_autoregressive, sample_top_k

FRAMES_4S = 345  # ceil(4 s * 44100 / 512)
KEYBOARD = [(p, v) for p in range(21, 109) for v in (25, 50, 75, 100, 127)]  # 440 notes


def instrument(notes: int) -> Conditions:
    keys = KEYBOARD[:notes] if notes <= len(KEYBOARD) else KEYBOARD * (notes // len(KEYBOARD) + 1)
    keys = keys[:notes]
    return Conditions.make([p for p, _ in keys], [v for _, v in keys], clap=torch.randn(512))


@torch.inference_mode()
def time_window(lm: LanguageModel, conditions: Conditions, settings: SamplerSettings, first_step: int,
                steps: int, total_steps: int) -> float:
    """Seconds for ``steps`` sampler steps starting at ``first_step``, the cache filled before it."""
    rows = 2 * conditions.batch_size
    cfg = lm.cfg
    cache = lm.new_cache(total_steps)
    if first_step:
        hd = cfg.dim // cfg.num_heads
        for i in range(cfg.num_layers):  # the values do not matter for the cost, only the length
            cache.keys[i] = torch.randn(rows, cfg.num_heads, total_steps, hd)
            cache.values[i] = torch.randn(rows, cfg.num_heads, total_steps, hd)
        cache.length = first_step
    tokens = lm.start_token_column(conditions.batch_size, "cpu")
    generator = torch.Generator().manual_seed(0)
    started = time.perf_counter()
    for _ in range(steps):
        logits = lm.guided_logits(tokens, conditions, settings.guidance_scale, cache)[:, :, -1]
        tokens = sample_top_k(logits, settings.top_k, settings.temperature, generator)[..., None]
    return time.perf_counter() - started


def measure(name: str, batch: int, steps: int, frames: int) -> dict:
    torch.manual_seed(0)
    lm = LanguageModel(preset(name)).eval()
    settings = SamplerSettings(top_k=250, guidance_scale=3.0)
    conditions = instrument(batch)
    total = lm.pattern.num_steps(frames)
    n = min(steps, total // 2)
    time_window(lm, conditions, settings, 0, 2, total)  # warm-up
    estimate = (time_window(lm, conditions, settings, 0, n, total)
                + time_window(lm, conditions, settings, total - n, n, total)) / (2 * n) * total
    row = {"preset": name, "lm_parameters": lm.num_parameters(), "batch": batch, "steps": total,
           "seconds": estimate, "measured": False}
    if batch == 1:
        started = time.perf_counter()
        generate_autoregressive(lm, conditions, frames, settings, torch.Generator().manual_seed(0))
        row.update(seconds=time.perf_counter() - started, measured=True, estimate=estimate)
    tokens = batch * frames * lm.cfg.num_codebooks
    row.update(tokens_per_second=tokens / row["seconds"], seconds_per_note=row["seconds"] / batch)
    return row


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", choices=("pocket", "paper"), action="append",
                   help="repeatable; default both")
    p.add_argument("--pocket-batch", type=int, default=len(KEYBOARD), help="large batch for pocket (whole keyboard)")
    p.add_argument("--paper-batch", type=int, default=88,
                   help="large batch for paper (default 88: one velocity layer; 440 needs about 8 GB of KV cache)")
    p.add_argument("--steps", type=int, default=8, help="steps per timing window for large batches")
    p.add_argument("--frames", type=int, default=FRAMES_4S)
    # One thread by default: on a 2-core machine the other core belongs to the audio callback.
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", action="store_true", help="one JSON object per preset")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    for name in args.preset or ["pocket", "paper"]:
        big = args.pocket_batch if name == "pocket" else args.paper_batch
        one, many = measure(name, 1, args.steps, args.frames), measure(name, big, args.steps, args.frames)
        if args.json:
            print(json.dumps({
                "preset": name, "lm_parameters": one["lm_parameters"],
                # the large batch: what filling a keyboard costs
                "tokens_per_second": round(many["tokens_per_second"], 1),
                "seconds_per_note": round(many["seconds_per_note"], 4),
                "batch": big, "steps": many["steps"], "threads": args.threads,
                # batch 1: the latency of a single key
                "batch1_tokens_per_second": round(one["tokens_per_second"], 1),
                "batch1_seconds_per_note": round(one["seconds_per_note"], 4),
            }))
            continue
        print(f"{name}: {one['lm_parameters'] / 1e6:.2f}M LM parameters, {one['steps']} steps per 4 s note, "
              f"guidance on (2 rows per note), {args.threads} threads")
        print(f"  {'batch':>5} {'tokens/s':>10} {'s/note':>8} {'s total':>9}")
        for r in (one, many):
            how = f"measured (estimate {r['estimate']:.1f} s)" if r["measured"] else f"from 2 x {min(args.steps, r['steps'] // 2)} steps"
            print(f"  {r['batch']:>5} {r['tokens_per_second']:>10.0f} {r['seconds_per_note']:>8.3f} "
                  f"{r['seconds']:>9.1f}  {how}")


if __name__ == "__main__":
    main()
