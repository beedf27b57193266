"""What every trainer keeps between runs: the learning-rate schedule and the checkpoint folder.

A checkpoint is ``OUT/checkpoint/``: the model's own folder (loadable as the
model wherever the config names one) plus ``trainer.pt`` (optimiser, schedule,
step, history), which holds plain tensors and numbers and is read with
``weights_only``. It is written under a temporary name and swapped in, so a
run killed while saving leaves the previous checkpoint whole.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch

TRAINER_STATE = "trainer.pt"


def warmup_cosine(step: int, warmup: int, steps: int) -> float:
    """Factor of the peak learning rate: linear warm-up, then cosine decay to a tenth of it."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def save_checkpoint(out: Path, write_model: Callable[[Path], object], step: int, optimizer, schedule,
                    history: list[dict]) -> Path:
    """``write_model(folder)`` writes the model's own files; returns ``out/checkpoint``."""
    target, temp, old = out / "checkpoint", out / "checkpoint.tmp", out / "checkpoint.old"
    shutil.rmtree(temp, ignore_errors=True)
    write_model(temp)
    torch.save({"step": step, "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                "history": json.dumps(history)}, temp / TRAINER_STATE)
    if target.exists():
        os.replace(target, old)
    os.replace(temp, target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def has_checkpoint(out: Path) -> bool:
    return (out / "checkpoint" / TRAINER_STATE).exists()


def load_trainer_state(out: Path, optimizer, schedule) -> tuple[int, list[dict]]:
    """Restores the optimiser and schedule from ``out/checkpoint``; -> (step, history)."""
    state = torch.load(out / "checkpoint" / TRAINER_STATE, map_location="cpu", weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    return int(state["step"]), json.loads(state["history"])


def jsonable(cfg) -> dict:
    """A training config dataclass as JSON-ready values (tuples as lists), for a checkpoint's record."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}
