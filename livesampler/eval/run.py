"""``livesampler eval --checkpoint LM [--checkpoint LM2 ...] --data DIR``: generate, measure, report.

For each of N held-out instruments (the test split, else valid) two instruments
are generated at the real one's keys: one from the CLAP audio embedding of its
reference note (the note the ``fixed`` scheme trains with) and one from the
text embedding of its caption (or, with ``--prompts``, one per line of the
file, at every evaluated key). Each group of generated instruments gets:

- timbral consistency (``consistency.py``), per instrument and on average;
- pitch accuracy (``pitch.py``), with the real notes' unpitched families;
- FAD (``fad.py``) against every real note of the split at the same keys, on
  CLAP embeddings and on log-mel statistics;
- the CLAP score and retrieval ranks (``clap_score.py``) against its prompts:
  text embeddings for text prompts, the reference notes' audio embeddings for
  audio prompts.

The real notes of the same instruments at the same keys get the same measures
(their CLAP score against the captions, and against the reference notes with
each instrument's own reference note left out): the ceiling. Every checkpoint
is loaded before anything is generated, so one made for another codec or CLAP
is refused at once. Results go to ``OUT/eval.json`` and ``OUT/report.md``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from livesampler.config import Config
from livesampler.data.captions import caption
from livesampler.data.nsynth import Note, read_audio
from livesampler.eval.clap_score import clap_score
from livesampler.eval.consistency import instrument_scores
from livesampler.eval.embeddings import LogMelStats, NoteEmbeddings, cache_folder, embed_audios
from livesampler.eval.fad import Gaussian, fad
from livesampler.eval.notes import DEFAULT_PITCHES, DEFAULT_VELOCITIES, reference_note
from livesampler.eval.pitch import analyse, summarise
from livesampler.eval.real import bar, choose, measure_real

TEXT_SEED_OFFSET = 1000  # text-prompted instruments draw other sampling noise than audio-prompted ones


def checkpoint_label(path: Path, saved: dict) -> tuple[str, str | None]:
    """(label, CLAP scheme): the scheme the checkpoint was trained with when it says, else its folder's name."""
    folder = path.resolve()
    name = folder.parent.name if folder.name == "checkpoint" else folder.name  # train lm writes OUT/checkpoint
    train = saved.get("extra", {}).get("train", {}) if isinstance(saved.get("extra"), dict) else {}
    scheme = train.get("clap_scheme") if isinstance(train, dict) else None
    return (scheme or name), scheme


def _unique_labels(labels: list[str], paths: list[Path]) -> list[str]:
    """Labels that appear twice get their folder's name added."""
    out = []
    for label, path in zip(labels, paths):
        folder = path.resolve()
        name = folder.parent.name if folder.name == "checkpoint" else folder.name
        out.append(f"{label} ({name})" if labels.count(label) > 1 and label != name else label)
    if len(set(out)) < len(out):  # same folder names too
        out = [f"{label} #{i + 1}" for i, label in enumerate(out)]
    return out


def measure_group(names: list[str], notes: dict[str, list[np.ndarray]], keys: dict[str, list[tuple[int, int]]],
                  families: dict[str, str], sample_rate: int, prompts: np.ndarray, clap, mel: LogMelStats,
                  references: dict[str, Gaussian], unpitched: set[str], show: bool) -> dict:
    """Every measure of one group of generated instruments (one per name, in order)."""
    flat = [a for name in names for a in notes[name]]
    owners = [name for name in names for _ in notes[name]]
    with bar(len(flat), "CLAP embeddings (generated)", show) as b:
        clap_vectors = embed_audios(clap, flat, sample_rate, b.update)
    mel_vectors = embed_audios(mel, flat, sample_rate)
    per_instrument = {name: clap_vectors[[i for i, o in enumerate(owners) if o == name]] for name in names}
    pitches = []
    with bar(len(flat), "pitch (pYIN)", show) as b:
        for name in names:
            for audio, (pitch, _) in zip(notes[name], keys[name]):
                pitches.append(analyse(audio, sample_rate, pitch))
                b.update(1)
    return {
        "timbral_consistency": instrument_scores(per_instrument),
        "pitch_accuracy": summarise(pitches, [families[o] for o in owners], owners, unpitched),
        "fad": {"clap": fad(clap_vectors, references["clap"]), "mel": fad(mel_vectors, references["mel"])},
        "clap_score": clap_score(names, prompts, [per_instrument[n] for n in names]),
    }


def evaluate(checkpoints: list[Path], data: Path, out: Path, config: Config, prompts: list[str] | None = None,
             instruments: int = 8, pitches=DEFAULT_PITCHES, velocities=DEFAULT_VELOCITIES, split: str | None = None,
             seed: int = 0, codec: Path | None = None, codec_family: str | None = None, clap: Path | None = None,
             device: str = "auto", cache: Path | None = None, show: bool = False,
             log: Callable[[str], None] = print) -> dict:
    """``cache``: where real notes' embeddings are kept (default: next to the note set, see ``embeddings.py``)."""
    from livesampler.model.checkpoint import load_lm
    from livesampler.model.clap import load_clap
    from livesampler.model.codec import load_codec
    from livesampler.model.instrument import NoteGenerator, pick_device, sampler_settings

    started = time.perf_counter()
    split_name, folder, all_notes, keyed, chosen = choose(data, split, pitches, velocities, instruments, None, seed)
    m = config.model
    torch_device = pick_device(device)
    codec_model = load_codec(codec_family or m.codec, codec or config.path(m.codec_weights), torch_device)
    clap_model = load_clap(m.clap, clap or config.path(m.clap_path), config.path(m.laion_text_dir),
                           m.laion_audio_model, torch_device)
    models = [(Path(p), *load_lm(p, codec_id=codec_model.id, clap_id=clap_model.id, device=torch_device))
              for p in checkpoints]
    settings = sampler_settings(m)
    log(f"{len(chosen)} held-out instruments of the {split_name} split, {len(keyed)} real notes at the keys; "
        f"codec {codec_model.id}, CLAP {clap_model.id}, {len(models)} checkpoint(s)")

    # The real side: the ceiling, and what generation is prompted with.
    names = list(chosen)
    families = {name: chosen[name][0].instrument_family_str for name in names}
    keys = {name: [(n.pitch, n.velocity) for n in chosen[name]] for name in names}
    clap_cache = NoteEmbeddings(clap_model, cache_folder(folder, cache))
    mel = LogMelStats()
    mel_cache = NoteEmbeddings(mel, cache_folder(folder, cache))
    real, details = measure_real(chosen, keyed, clap_cache, seed, show)
    with bar(len(keyed), "reference embeddings", show) as b:
        references = {"clap": Gaussian.fit(clap_cache(keyed, b.update)), "mel": Gaussian.fit(mel_cache(keyed))}
    real_notes = [n for name in names for n in chosen[name]]
    real["fad"] = {"clap": fad(clap_cache(real_notes), references["clap"]),
                   "mel": fad(mel_cache(real_notes), references["mel"])}
    held_out: dict[str, list[Note]] = {}
    for n in all_notes:
        held_out.setdefault(n.instrument_str, []).append(n)
    reference = {name: reference_note(held_out[name]) for name in names}
    audio_prompts = clap_cache([reference[name] for name in names])
    real_embeddings = {name: np.stack([details["embeddings"][n.note_str] for n in chosen[name]]) for name in names}
    others = {name: np.stack([details["embeddings"][n.note_str] for n in chosen[name]
                              if n.note_str != reference[name].note_str]) for name in names}
    real["clap_score_audio"] = clap_score(names, audio_prompts, [others[n] for n in names])

    if prompts is None:
        text = [caption(chosen[name][0]) for name in names]
        text_names, text_keys, text_families = names, keys, families
    else:
        text = list(prompts)
        text_names = [f"prompt {i + 1}" for i in range(len(text))]
        every_key = [(p, v) for p in sorted(set(pitches)) for v in sorted(set(velocities))]
        text_keys = {name: every_key for name in text_names}
        text_families = {name: "(text prompt)" for name in text_names}
    text_prompts = clap_model.embed_text(text).float().cpu().numpy()
    real["clap_score_text"] = (clap_score(names, text_prompts, [real_embeddings[n] for n in names])
                               if prompts is None else None)

    results = []
    for (path, lm, saved), label in zip(models, _unique_labels([checkpoint_label(p, s)[0] for p, _, s in models],
                                                                [p for p, _, _ in models])):
        generator = NoteGenerator(codec_model, clap_model, lm, settings, m.note_seconds)
        began = time.perf_counter()
        groups = {}
        for group, group_names, embeddings, group_keys, group_families, offset in (
                ("audio_prompts", names, audio_prompts, keys, families, 0),
                ("text_prompts", text_names, text_prompts, text_keys, text_families, TEXT_SEED_OFFSET)):
            made = {}
            for i, name in enumerate(group_names):
                log(f"{label}: {group.replace('_', ' ')}: generating {name} ({i + 1}/{len(group_names)}, "
                    f"{len(group_keys[name])} notes)")
                sound = read_audio(reference[name], generator.sample_rate) if group == "audio_prompts" else None
                ref = generator.prompt_reference(embeddings[i], seed + offset + i, sound, generator.sample_rate)
                made[name] = generator.generate(embeddings[i], [p for p, _ in group_keys[name]],
                                                [v for _, v in group_keys[name]], seed=seed + offset + i,
                                                reference=ref)
            groups[group] = measure_group(group_names, made, group_keys, group_families, generator.sample_rate,
                                          embeddings, clap_model, mel, references, details["unpitched"], show)
        groups["text_prompts"]["prompts"] = dict(zip(text_names, text))
        results.append({"label": label, "path": str(path), "clap_scheme": checkpoint_label(path, saved)[1],
                        "step": saved.get("extra", {}).get("step"), **groups,
                        "seconds": time.perf_counter() - began})

    result = {
        "note_set": str(data), "split": split_name, "codec": codec_model.id, "clap": clap_model.id,
        "keys": {"pitches": sorted(set(pitches)), "velocities": sorted(set(velocities))}, "seed": seed,
        "sampling": {"sampler": settings.name, "top_k": settings.top_k, "temperature": settings.temperature,
                     "guidance_scale": settings.guidance_scale, "note_seconds": m.note_seconds},
        "instruments": [{"name": name, "family": families[name], "notes": len(chosen[name]),
                         "reference_note": reference[name].note_str, "caption": caption(chosen[name][0])}
                        for name in names],
        "text_prompts": dict(zip(text_names, text)),
        "fad_reference": {"notes": len(keyed), "embedded_now": clap_cache.embedded + mel_cache.embedded,
                          "cache": str(cache_folder(folder, cache))},
        "real": real,
        "checkpoints": results,
    }
    result["seconds"] = time.perf_counter() - started
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps(result, indent=2))
    from livesampler.eval.report import write_report

    write_report(result, out)
    return result
