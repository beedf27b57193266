"""Which real notes an evaluation looks at: the held-out split, its instruments, their keys and reference notes.

Both commands measure notes at one key set (pitches x velocities; by default
every 4th key from 24 to 96 at velocity 100, so that generating them on a CPU
takes minutes), and only the keys an instrument really has there: a generated
instrument is made at its real instrument's keys, so the two are compared note
for note. Instruments are picked round-robin over families (seeded order
within a family), so a handful of them still covers as many families as it can.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from livesampler.data.nsynth import Note, find_splits, read_split, reference_order
from livesampler.eval import EvalError

DEFAULT_PITCHES = tuple(range(24, 97, 4))
DEFAULT_VELOCITIES = (100,)


def held_out_split(root: str | Path, split: str | None = None) -> tuple[str, Path, list[Note]]:
    """(name, folder, notes) of ``split``; by default test, or valid when the set has no test notes."""
    splits = find_splits(root)
    if split is not None:
        if split not in splits:
            raise EvalError(f"{root} has no {split} split (it has {', '.join(splits)}): give another --split")
        notes = read_split(splits[split])
        if not notes:
            raise EvalError(f"the {split} split of {root} has no notes: give another --split")
        return split, splits[split], notes
    for name in ("test", "valid"):
        if name in splits:
            notes = read_split(splits[name])
            if notes:
                return name, splits[name], notes
    raise EvalError(f"{root} has no held-out notes (no test or valid split with notes): render or download "
                    f"them, or give --split")


def by_instrument(notes: list[Note]) -> dict[str, list[Note]]:
    """Notes grouped by instrument, each group sorted by (pitch, velocity)."""
    groups: dict[str, list[Note]] = {}
    for n in notes:
        groups.setdefault(n.instrument_str, []).append(n)
    return {name: sorted(g, key=lambda n: (n.pitch, n.velocity)) for name, g in sorted(groups.items())}


def at_keys(notes: list[Note], pitches, velocities) -> list[Note]:
    pitches, velocities = set(pitches), set(velocities)
    return [n for n in notes if n.pitch in pitches and n.velocity in velocities]


def reference_note(notes: list[Note]) -> Note:
    """The instrument's audio prompt: the same note the ``fixed`` training scheme conditions on."""
    return min(notes, key=lambda n: reference_order(n.pitch, n.velocity))


def pick_instruments(groups: dict[str, list[Note]], count: int | None, seed: int) -> list[str]:
    """Up to ``count`` instruments (all when None) with at least two notes, round-robin over families."""
    usable = {name: g for name, g in groups.items() if len(g) >= 2}
    if count is None or count >= len(usable):
        return sorted(usable)
    rng = np.random.default_rng(seed)
    families: dict[str, list[str]] = {}
    for name, g in sorted(usable.items()):
        families.setdefault(g[0].instrument_family_str, []).append(name)
    queues = {f: [names[i] for i in rng.permutation(len(names))] for f, names in sorted(families.items())}
    chosen: list[str] = []
    while len(chosen) < count:
        for queue in queues.values():
            if queue and len(chosen) < count:
                chosen.append(queue.pop(0))
    return sorted(chosen, key=lambda name: (usable[name][0].instrument_family_str, name))


def read_prompts(path: str | Path) -> list[str]:
    """One text prompt per non-empty line."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise EvalError(f"prompts file {path} does not exist: give a text file with one prompt per line") from None
    except (OSError, UnicodeDecodeError) as e:
        raise EvalError(f"cannot read prompts file {path}: {e}") from None
    prompts = [line.strip() for line in lines if line.strip()]
    if not prompts:
        raise EvalError(f"prompts file {path} is empty: write one text prompt per line")
    return prompts
