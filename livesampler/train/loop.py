"""The step loop every trainer runs: steps, a progress bar, and every ``eval_every``
steps a validation, a line in ``OUT/log.jsonl`` and a checkpoint.

A trainer brings ``cfg`` (``steps``, ``eval_every``), ``step``, ``history``, ``out``,
``log``, ``train_step()`` (figures with ``loss``, ``lr`` and how many notes or
tokens the step learnt from), ``validate()`` and ``save()``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable


def run_steps(trainer, count: str, *, progress: bool = True, until: int | None = None, writer: bool = True,
              after_save: Callable[[], object] | None = None) -> list[dict]:
    """Train to ``cfg.steps``, or stop at step ``until`` (a later run goes on from the last checkpoint).

    ``count``: the key of train_step's figures that says what a step learnt from ("notes",
    "tokens"); its rate is logged. ``writer``: this process writes the log and shows
    progress (under torchrun only rank 0 does). ``after_save``: run after each checkpoint.
    """
    cfg = trainer.cfg
    last = min(cfg.steps, until) if until is not None else cfg.steps
    bar = None
    if progress and writer:
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, initial=trainer.step, unit="step", dynamic_ncols=True)
    window_steps, window_count, window_start = 0, 0, time.perf_counter()
    while trainer.step < last:
        figures = trainer.train_step()
        window_steps += 1
        window_count += figures[count]
        elapsed = time.perf_counter() - window_start
        if bar is not None:
            bar.update(1)
            bar.set_postfix({"loss": f"{figures['loss']:.3f}",
                             f"{count}/s": f"{window_count / max(elapsed, 1e-9):.1f}"})
        if trainer.step % cfg.eval_every == 0 or trainer.step == cfg.steps:
            entry = {"step": trainer.step, "train_loss": figures["loss"], "lr": figures["lr"],
                     "steps_per_second": window_steps / elapsed, f"{count}_per_second": window_count / elapsed,
                     **trainer.validate()}
            trainer.history.append(entry)
            if writer:
                with open(trainer.out / "log.jsonl", "a") as f:
                    f.write(json.dumps(entry) + "\n")
                if bar is None:
                    trainer.log(json.dumps(entry))
            trainer.save()
            if after_save is not None:
                after_save()
            window_steps, window_count, window_start = 0, 0, time.perf_counter()
    if bar is not None:
        bar.close()
    return trainer.history
