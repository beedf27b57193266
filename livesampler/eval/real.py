"""``livesampler eval real``: the measures on real notes of a note set, the ceiling for generated instruments.

For the chosen instruments of the held-out split, at the evaluated keys: the
timbral consistency of each real instrument, the same for its shuffled mix
(notes of other instruments of the split at the same keys), and pitch accuracy.
``eval --checkpoint`` runs the same function on the same instruments and adds
what needs a model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from livesampler.data.nsynth import Note, read_audio, spread
from livesampler.eval import EvalError
from livesampler.eval.consistency import instrument_scores, real_above_mixes, shuffled_mixes
from livesampler.eval.embeddings import NoteEmbeddings, cache_folder
from livesampler.eval.notes import (DEFAULT_PITCHES, DEFAULT_VELOCITIES, at_keys, by_instrument, held_out_split,
                                    pick_instruments)
from livesampler.eval.pitch import NotePitch, analyse, summarise


def bar(total: int, what: str, show: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=what, unit="note", dynamic_ncols=True, disable=not show, leave=False)


def note_pitches(notes: list[Note], show: bool = False) -> list[NotePitch]:
    results = []
    with bar(len(notes), "pitch (pYIN)", show) as b:
        for n in notes:
            results.append(analyse(read_audio(n), n.sample_rate, n.pitch))
            b.update(1)
    return results


def measure_real(chosen: dict[str, list[Note]], pool: list[Note], clap_embeddings: NoteEmbeddings, seed: int,
                 show: bool = False) -> tuple[dict, dict]:
    """-> (results, details): the JSON numbers, and what ``eval --checkpoint`` reuses (embeddings, pitch results).

    ``chosen``: each instrument's notes at the evaluated keys; ``pool``: every
    note of the split at those keys, which the shuffled mixes draw from.
    """
    notes = [n for group in chosen.values() for n in group]
    with bar(len(notes), "CLAP embeddings", show) as b:
        vectors = clap_embeddings(notes, b.update)
    embedded = dict(zip((n.note_str for n in notes), vectors))
    real = instrument_scores({name: np.stack([embedded[n.note_str] for n in group]) for name, group in chosen.items()})

    keys = {name: [(n.pitch, n.velocity) for n in group] for name, group in chosen.items()}
    mixes = shuffled_mixes(keys, [(n.instrument_str, (n.pitch, n.velocity)) for n in pool], seed)
    mixed_notes = sorted({pool[i].note_str: pool[i] for mix in mixes.values() for i in mix}.values(),
                         key=lambda n: n.note_str)
    with bar(len(mixed_notes), "CLAP embeddings (mixes)", show) as b:
        mixed_vectors = dict(zip((n.note_str for n in mixed_notes), clap_embeddings(mixed_notes, b.update)))
    shuffled = instrument_scores({name: np.stack([mixed_vectors[pool[i].note_str] for i in mix])
                                  for name, mix in mixes.items()})
    shuffled["real_above_mix"] = real_above_mixes(real, shuffled)
    shuffled["seed"] = seed

    pitches = note_pitches(notes, show)
    pitch = summarise(pitches, [n.instrument_family_str for n in notes], [n.instrument_str for n in notes])
    results = {"timbral_consistency": real, "timbral_consistency_shuffled": shuffled, "pitch_accuracy": pitch}
    return results, {"embeddings": embedded, "pitches": pitches, "unpitched": set(pitch["unpitched_families"])}


def choose(root: str | Path, split: str | None, pitches, velocities, instruments: int | None, max_notes: int | None,
           seed: int) -> tuple[str, Path, list[Note], list[Note], dict[str, list[Note]]]:
    """-> (split, split folder, its notes, those at the keys, the chosen instruments' notes there)."""
    name, folder, notes = held_out_split(root, split)
    keyed = at_keys(notes, pitches, velocities)
    if not keyed:
        raise EvalError(f"the {name} split of {root} has no notes at the keys asked (pitches "
                        f"{_span(pitches)}, velocities {_span(velocities)}): give --pitches/--velocities it has")
    groups = by_instrument(keyed)
    picked = pick_instruments(groups, instruments, seed)
    if not picked:
        raise EvalError(f"no instrument of the {name} split of {root} has two notes at the keys asked: "
                        f"give more --pitches/--velocities")
    return name, folder, notes, keyed, {i: spread(groups[i], max_notes) for i in picked}


def evaluate_real(root: str | Path, clap, split: str | None = None, instruments: int | None = None,
                  max_notes: int | None = None, pitches=DEFAULT_PITCHES, velocities=DEFAULT_VELOCITIES,
                  seed: int = 0, cache: Path | None = None, show: bool = False) -> dict:
    """``cache``: where embeddings are kept (default: next to the note set, see ``embeddings.py``)."""
    name, folder, _, keyed, chosen = choose(root, split, pitches, velocities, instruments, max_notes, seed)
    embeddings = NoteEmbeddings(clap, cache_folder(folder, cache))
    results, _ = measure_real(chosen, keyed, embeddings, seed, show)
    notes = sum(len(g) for g in chosen.values())
    return {"note_set": str(root), "split": name, "clap": clap.id, "instruments": len(chosen), "notes": notes,
            "keys": {"pitches": sorted(set(pitches)), "velocities": sorted(set(velocities))},
            "families": {i: g[0].instrument_family_str for i, g in chosen.items()},
            **results, "embedded_now": embeddings.embedded, "embedding_cache": str(embeddings.file)}


def _span(values) -> str:
    values = sorted(set(values))
    return f"{values[0]}-{values[-1]}" if len(values) > 2 else ",".join(map(str, values))


def _share(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def summary(result: dict) -> list[str]:
    """The readable form of ``evaluate_real``'s result."""
    keys = result["keys"]
    lines = [f"{result['note_set']} ({result['split']} split): {result['instruments']} instruments, "
             f"{result['notes']} notes at pitches {_span(keys['pitches'])}, velocities {_span(keys['velocities'])}; "
             f"CLAP {result['clap']} ({result['embedded_now']} notes embedded now)",
             "timbral consistency (higher = more consistent): real instruments against shuffled mixes of other "
             "instruments' notes at the same keys"]
    real, mixed = result["timbral_consistency"], result["timbral_consistency_shuffled"]
    above = mixed["real_above_mix"]
    for measure, label in (("cosine", "mean pairwise cosine"), ("covariance", "covariance score")):
        lines.append(f"  {label:21s} real {real[measure]['mean']:.4f}  shuffled {mixed[measure]['mean']:.4f}  "
                     f"real above its mix: {above[measure]} of {above['instruments']}")
    p = result["pitch_accuracy"]
    lines.append(f"pitch accuracy: {_share(p['within_50_cents'])} within 50 cents, {_share(p['octave_errors'])} "
                 f"octave errors, {_share(p['unvoiced'])} unvoiced ({p['notes']} notes of pitched families)")
    if p["unpitched_families"]:
        u = p["unpitched"]
        lines.append(f"  unpitched families, apart: {', '.join(p['unpitched_families'])} ({u['notes']} notes, "
                     f"{_share(u['within_50_cents'])} within 50 cents)")
    lines.append("  per family: " + ", ".join(f"{f} {_share(v['within_50_cents'])} of {v['notes']}"
                                               for f, v in p["families"].items()))
    lines.append(f"{'instrument':40s} {'family':10s} notes  cosine (mix)       covariance (mix)  pitch")
    for name in real["cosine"]["per_instrument"]:
        mix_cos = mixed["cosine"]["per_instrument"].get(name)
        mix_cov = mixed["covariance"]["per_instrument"].get(name)
        lines.append(f"{name[:40]:40s} {result['families'][name][:10]:10s} {real['notes'][name]:5d}  "
                     f"{real['cosine']['per_instrument'][name]:.4f} ({'-' if mix_cos is None else f'{mix_cos:.4f}'})"
                     f"  {real['covariance']['per_instrument'][name]:7.3f} "
                     f"({'-' if mix_cov is None else f'{mix_cov:.3f}'})  "
                     f"{_share(p['per_instrument'].get(name))}")
    return lines
