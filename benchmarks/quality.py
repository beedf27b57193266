"""Do generated instruments sound like what was asked for? Measured on a soundfont the models never heard.

    livesampler dataset render-soundfont /usr/share/sounds/sf2/sf_GMbank.sf2 -o heldout --velocities 100
    PYTHONPATH=. python benchmarks/quality.py --heldout heldout [--font sf_gmbank] [--json]
        [--lm DIR] [--codec DIR] [--clap DIR] [--pitches 36-84/6] [--sheet OUT.png]
        [--guidance 1,2,3 --top-k 20,250 --temperature 0.8,1]   # a sweep: every combination

(``sf_GMbank.sf2`` is Debian's csound-soundfont; the pocket models train on FluidR3 GM/GS,
TimGM6mb and MuseScore General only.) For eleven General MIDI instruments of the held-out
font, at --pitches and velocity 100, four sets of notes are compared:

- real: the font's own notes;
- codec: the real notes through the codec and back, the ceiling of what the LM can reach;
- audio prompt: generated with the instrument's real note at key 60 as the reference sound
  (CLAP audio embedding, and the reference encoder's note where the LM has one);
- text prompt: generated from a prompt naming the instrument ("acoustic grand piano").

All measures are independent of the project's own CLAP and pitch analysis
(``livesampler.eval.timbre``): torchcrepe in tune, MFCC/envelope profiles ranked against the
eleven real instruments (top-1: the right one first), spectral flux against the real notes',
broadband bursts, and the envelope's distance from the real one (dB at 0.5/1.5/2.9/3.8 s).

Then the condition gain: the LM's cross-entropy of the real notes' codes with the right
conditions, and how much it rises with one condition wrong or missing, over whole notes and
over their first 0.25 s. A model that listens to its conditions shows large gains.

Given several sampling settings, every combination is generated and measured (a line each on
stderr, and ``sweep`` in the JSON); the figures printed are those of the best one: the most
instruments ranked first (audio + text prompts), then the most notes in tune, then the least flux.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from livesampler.eval import timbre

# (GM program, the prompt a performer would type)
INSTRUMENTS = (
    (0, "acoustic grand piano"), (4, "bright electric piano"), (12, "marimba"), (19, "church organ"),
    (24, "warm nylon guitar"), (30, "distorted electric guitar"), (38, "synth bass"), (40, "violin"),
    (56, "trumpet"), (73, "soft flute"), (89, "warm analog pad"),
)
REFERENCE_PITCH = 60
VELOCITY = 100


def floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


def ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


def parse_pitches(text: str) -> list[int]:
    """"36-84/6" -> 36, 42, ..., 84; "48,60,72" -> those."""
    if "-" in text:
        span, _, step = text.partition("/")
        low, high = (int(v) for v in span.split("-"))
        return list(range(low, high + 1, int(step or 1)))
    return [int(v) for v in text.split(",")]


def real_instruments(heldout: Path, font: str, pitches: list[int]):
    """{program: (instrument_str, {pitch: audio})} for INSTRUMENTS in the held-out note set."""
    from livesampler.data.nsynth import read_audio, read_dataset

    notes = [n for split in read_dataset(heldout).values() for n in split]
    found = {}
    for program, _ in INSTRUMENTS:
        prefix = f"{font}_{program:03d}_"
        mine = [n for n in notes if n.instrument_str.startswith(prefix) and n.velocity == VELOCITY]
        by_pitch = {n.pitch: n for n in mine}
        need = set(pitches) | {REFERENCE_PITCH}
        if not need <= set(by_pitch):
            sys.exit(f"quality: {heldout} lacks {font} program {program} at pitches {sorted(need - set(by_pitch))} "
                     f"(velocity {VELOCITY}): render the font with `livesampler dataset render-soundfont`")
        found[program] = (mine[0].instrument_str,
                          {p: read_audio(by_pitch[p], timbre.SR).astype(np.float32) for p in need})
    return found


def load_codec_only(args):
    """The codec alone, for --codec-only: the ceiling of a codec before an LM is trained on it."""
    from livesampler.config import load_config
    from livesampler.model.codec import load_codec

    config = load_config(args.config)
    path = Path(args.codec).resolve() if args.codec else config.path(config.model.codec_weights)
    return load_codec(config.model.codec, path)


def load_generator(args):
    from livesampler.config import load_config
    from livesampler.model.instrument import NoteGenerator

    config = load_config(args.config)
    m = config.model
    changes = {}
    for key, value in (("lm_checkpoint", args.lm), ("codec_weights", args.codec), ("clap_path", args.clap)):
        if value is not None:
            changes[key] = str(Path(value).resolve())
    m = replace(m, **changes, device="cpu")
    return NoteGenerator.from_config(m, resolve=config.path)


def note_measures(by_program: dict[int, dict[int, np.ndarray]], programs: list[int], pitches: list[int]) -> dict:
    """by_program: program -> pitch -> audio at 16 kHz. The per-note measures, before any comparison."""
    return {"profile": np.stack([[timbre.profile(by_program[p][k]) for k in pitches] for p in programs]),  # [I, P, D]
            "tuned": [timbre.in_tune(by_program[p][k], k) for p in programs for k in pitches],
            "flux": float(np.mean([timbre.flux(by_program[p][k]) for p in programs for k in pitches])),
            "bursts": float(np.mean([timbre.bursts(by_program[p][k]) for p in programs for k in pitches]))}


def summarise(measured: dict[str, dict]) -> dict:
    """set name -> note_measures, "real" among them. Figures per set, against "real"."""
    profiles = {name: m["profile"] for name, m in measured.items()}
    I, P, D = profiles["real"].shape
    every = np.concatenate([profiles[n].reshape(-1, D) for n in measured])
    mean, std = every.mean(axis=0), every.std(axis=0)
    z = {n: ((profiles[n] - mean) / np.where(std > 1e-9, std, 1.0)).mean(axis=1) for n in measured}  # [I, D]
    real = measured["real"]
    out = {}
    for name, m in measured.items():
        entry = {"in_tune": float(np.mean(m["tuned"])), "flux_db": m["flux"], "bursts_per_note": m["bursts"]}
        if name != "real":
            ranks = timbre.rank_instruments(z[name], z["real"])
            entry.update(top1=float(np.mean(ranks == 0)), ranks=[int(r) for r in ranks],
                         flux_ratio=m["flux"] / real["flux"],
                         envelope_error_db=float(np.mean(np.abs(profiles[name][:, :, 41:45]
                                                                - profiles["real"][:, :, 41:45]))))
        out[name] = entry
    return out


def measure(sets: dict[str, dict[int, dict[int, np.ndarray]]], programs: list[int], pitches: list[int]) -> dict:
    """sets: name -> program -> pitch -> audio at 16 kHz. Figures per set, against "real"."""
    return summarise({name: note_measures(s, programs, pitches) for name, s in sets.items()})


def generate_sets(gen, programs: list[int], pitches: list[int], clap_audio: dict, references: dict,
                  seed: int) -> dict:
    """The audio-prompt and text-prompt instruments with the generator's current sampling settings."""
    prompts = dict(INSTRUMENTS)
    made = {"audio prompt": {}, "text prompt": {}}
    started, count = time.perf_counter(), 0
    for p in programs:
        t0 = time.perf_counter()
        out = gen.generate(clap_audio[p], pitches, [VELOCITY] * len(pitches), seed=seed, reference=references[p])
        made["audio prompt"][p] = dict(zip(pitches, out))
        text = gen.embed_text(prompts[p])
        first = gen.first_note(text, seed=seed) if gen.uses_reference else None
        out = gen.generate(text, pitches, [VELOCITY] * len(pitches), seed=seed, reference=first)
        made["text prompt"][p] = dict(zip(pitches, out))
        count += 2 * len(pitches) + (first is not None)
        print(f"  program {p}: made in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    made["seconds_per_note"] = (time.perf_counter() - started) / count
    return made


@torch.no_grad()
def condition_gain(gen, real, programs: list[int], pitches: list[int], clap_audio: dict[int, np.ndarray],
                   references: dict[int, object]) -> dict:
    """Cross-entropy (nats per code) of the real notes' codes, right conditions against one wrong or missing."""
    from livesampler.model.conditions import Conditions

    lm, codec = gen.lm, gen.codec
    if not lm.causal:
        return {}
    T = codec.num_frames(gen.note_seconds)
    onset = max(1, round(0.25 * codec.frame_rate))
    rows = [(p, k) for p in programs for k in pitches]
    audio = torch.from_numpy(np.stack([real[p][1][k][:round(gen.note_seconds * timbre.SR)] for p, k in rows]))
    codes = codec.encode(audio, pitch=torch.tensor([k for _, k in rows]))[:, :lm.cfg.num_codebooks, :T]
    shift = {p: programs[(i + 1) % len(programs)] for i, p in enumerate(programs)}

    def conds(clap_of, ref_of, pitch_shift=0):
        ref = {}
        if lm.reference is not None:
            ref = dict(reference=torch.stack([references[ref_of(p)].codes for p, _ in rows]),
                       reference_pitch=[references[ref_of(p)].pitch for p, _ in rows])
        return Conditions.make([k + pitch_shift if k + pitch_shift <= 108 else k - pitch_shift for _, k in rows],
                               [VELOCITY] * len(rows),
                               clap=torch.from_numpy(np.stack([clap_audio[clap_of(p)] for p, _ in rows])), **ref)

    right = conds(lambda p: p, lambda p: p)
    cases = {"right": right, "clap_other": conds(lambda p: shift[p], lambda p: p),
             "clap_null": right.replace(has_clap=torch.zeros_like(right.has_clap)),
             "pitch_off": conds(lambda p: p, lambda p: p, pitch_shift=7), "all_null": right.null()}
    if lm.reference is not None:
        cases["reference_other"] = conds(lambda p: p, lambda p: shift[p])
        cases["reference_null"] = right.replace(has_reference=torch.zeros_like(right.has_reference))
    losses = {}
    for name, c in cases.items():
        cells = torch.cat([lm.frame_losses(codes[i:i + 16], c.select(torch.arange(i, min(i + 16, len(rows)))))
                           for i in range(0, len(rows), 16)])  # [N, K, T]
        losses[name] = (float(cells.mean()), float(cells[:, :, :onset].mean()))
    base = losses.pop("right")
    return {"loss": base[0], "loss_onset": base[1],
            "gain": {n: round(v[0] - base[0], 4) for n, v in losses.items()},
            "gain_onset": {n: round(v[1] - base[1], 4) for n, v in losses.items()}}


def draw_sheet(path: Path, sets, programs, names, keys: list[int]) -> None:
    import librosa
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [(k, s) for k in keys for s in ("real", "codec", "audio prompt", "text prompt")]
    fig, axes = plt.subplots(len(programs), len(columns), figsize=(2.0 * len(columns), 1.6 * len(programs)),
                             squeeze=False)
    for i, p in enumerate(programs):
        for j, (k, s) in enumerate(columns):
            mel = librosa.feature.melspectrogram(y=sets[s][p][k], sr=timbre.SR, n_fft=1024, hop_length=256, n_mels=64)
            db = 10 * np.log10(np.maximum(mel, 1e-10))
            ax = axes[i, j]
            ax.imshow(db, origin="lower", aspect="auto", vmin=db.max() - 80, vmax=db.max(), cmap="magma")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"{s}\nkey {k}", fontsize=7)
            if j == 0:
                ax.set_ylabel(names[p], fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--heldout", type=Path, required=True, help="a note set rendered from a font never trained on")
    ap.add_argument("--font", default="sf_gmbank", help="the font's prefix in the instrument names (default: sf_gmbank)")
    ap.add_argument("--config", type=Path, help="config.toml (default: the project's)")
    ap.add_argument("--lm", type=Path, help="LM model folder (default: model.lm_checkpoint)")
    ap.add_argument("--codec", type=Path, help="codec model folder (default: model.codec_weights)")
    ap.add_argument("--clap", type=Path, help="CLAP model folder (default: model.clap_path)")
    ap.add_argument("--guidance", type=floats, default=[None], metavar="G[,G...]",
                    help="guidance scale (default: model.guidance_scale); several values sweep")
    ap.add_argument("--top-k", type=ints, default=[None], metavar="K[,K...]", help="default: model.top_k")
    ap.add_argument("--temperature", type=floats, default=[None], metavar="T[,T...]",
                    help="default: model.temperature")
    ap.add_argument("--pitches", default="36-84/6", help="keys generated and compared (default: 36-84/6)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sheet", type=Path, metavar="OUT.png", help="log-mel spectrograms, real beside generated")
    ap.add_argument("--codec-only", action="store_true", help="measure the codec's round trip alone (no LM)")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    pitches = parse_pitches(args.pitches)
    real = real_instruments(args.heldout, args.font, pitches)
    programs = [p for p, _ in INSTRUMENTS]
    if args.codec_only:
        codec = load_codec_only(args)
        length = 4 * codec.sample_rate
        sets = {"real": {p: real[p][1] for p in programs}, "codec": {}}
        for p in programs:
            audio = torch.from_numpy(np.stack([real[p][1][k][:length] for k in pitches]))
            decoded = codec.decode(codec.encode(audio, pitch=torch.tensor(pitches)), torch.tensor(pitches))
            sets["codec"][p] = dict(zip(pitches, (a[:length].numpy() for a in decoded)))
        figures = measure(sets, programs, pitches)
        result = {"codec": getattr(codec, "id", ""), "in_tune_codec": figures["codec"]["in_tune"],
                  "in_tune_real": figures["real"]["in_tune"], "codec_top1": figures["codec"]["top1"],
                  "flux_ratio_codec": figures["codec"]["flux_ratio"], "sets": figures}
        print(json.dumps(result) if args.json else
              f"codec {result['codec']}: in tune {result['in_tune_codec']:.0%} (real {result['in_tune_real']:.0%}), "
              f"top-1 {result['codec_top1']:.0%}, flux ratio {result['flux_ratio_codec']:.2f}, "
              f"envelope error {figures['codec']['envelope_error_db']:.1f} dB")
        return 0
    gen = load_generator(args)
    sr = gen.sample_rate
    if sr != timbre.SR:
        sys.exit("quality: the benchmark compares 16 kHz notes; this codec's rate is {sr}")
    length = round(gen.note_seconds * sr)

    sets = {"real": {p: real[p][1] for p in programs}, "codec": {}}
    clap_audio, references = {}, {}
    for p in programs:
        notes = real[p][1]
        audio = torch.from_numpy(np.stack([notes[k][:length] for k in pitches]))
        codes = gen.codec.encode(audio, pitch=torch.tensor(pitches))
        sets["codec"][p] = dict(zip(pitches, (a[:length].numpy() for a in gen.codec.decode(codes, torch.tensor(pitches)))))
        ref_audio = notes[REFERENCE_PITCH][:length]
        clap_audio[p] = gen.embed_audio(ref_audio, sr)
        references[p] = gen.encode_reference(ref_audio, sr) if gen.uses_reference else None
    measured = {name: note_measures(s, programs, pitches) for name, s in sets.items()}

    settings = [dict(guidance_scale=g, top_k=k, temperature=t)
                for g in args.guidance for k in args.top_k for t in args.temperature]
    runs = []
    for setting in settings:
        gen.settings = replace(gen.settings, **{key: v for key, v in setting.items() if v is not None})
        made = generate_sets(gen, programs, pitches, clap_audio, references, args.seed)
        figures = summarise({**measured, **{name: note_measures(made[name], programs, pitches)
                                            for name in ("audio prompt", "text prompt")}})
        runs.append((gen.settings, made, figures))
        if len(settings) > 1:
            print(f"guidance {gen.settings.guidance_scale:g}, top-k {gen.settings.top_k}, temperature "
                  f"{gen.settings.temperature:g}: " + ", ".join(
                      f"{name} in tune {figures[name]['in_tune']:.0%} top-1 {figures[name]['top1']:.0%} "
                      f"flux ratio {figures[name]['flux_ratio']:.2f} bursts {figures[name]['bursts_per_note']:.2f}"
                      for name in ("audio prompt", "text prompt")), file=sys.stderr)
    # with a sweep, the figures that follow are those of the best setting: most often first, then least flux
    chosen, made, figures = max(runs, key=lambda r: (r[2]["audio prompt"]["top1"] + r[2]["text prompt"]["top1"],
                                                     r[2]["audio prompt"]["in_tune"], -r[2]["audio prompt"]["flux_ratio"]))
    sets.update({name: made[name] for name in ("audio prompt", "text prompt")})
    result = {"instruments": len(programs), "pitches": pitches, "font": args.font,
              "seconds_per_note": made["seconds_per_note"],
              "guidance": chosen.guidance_scale, "top_k": chosen.top_k, "temperature": chosen.temperature}
    result.update(
        in_tune=figures["audio prompt"]["in_tune"], in_tune_text=figures["text prompt"]["in_tune"],
        in_tune_codec=figures["codec"]["in_tune"], in_tune_real=figures["real"]["in_tune"],
        audio_prompt_top1=figures["audio prompt"]["top1"], text_prompt_top1=figures["text prompt"]["top1"],
        codec_top1=figures["codec"]["top1"],
        flux_ratio=figures["audio prompt"]["flux_ratio"], flux_ratio_text=figures["text prompt"]["flux_ratio"],
        flux_ratio_codec=figures["codec"]["flux_ratio"],
        bursts_per_note=figures["audio prompt"]["bursts_per_note"],
        bursts_per_note_text=figures["text prompt"]["bursts_per_note"], sets=figures)
    if len(runs) > 1:
        result["sweep"] = [{"guidance": st.guidance_scale, "top_k": st.top_k, "temperature": st.temperature,
                            **{f"{key}{suffix}": f[name][key]
                               for name, suffix in (("audio prompt", ""), ("text prompt", "_text"))
                               for key in ("in_tune", "top1", "flux_ratio", "bursts_per_note")}}
                           for st, _, f in runs]
    result["condition_gain"] = condition_gain(gen, real, programs, pitches, clap_audio, references)
    if args.sheet:
        keys = [k for k in (48, 60, 72) if k in pitches] or pitches[:3]
        draw_sheet(args.sheet, sets, programs, dict(INSTRUMENTS), keys)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{len(programs)} instruments of {args.font} at keys {pitches}, velocity {VELOCITY}; guidance "
          f"{chosen.guidance_scale:g}, top-k {chosen.top_k}, temperature {chosen.temperature:g}")
    print(f"{'':14}{'in tune':>9}{'top-1':>8}{'flux':>8}{'/real':>7}{'bursts':>8}{'env dB':>8}")
    for name, f in figures.items():
        print(f"{name:14}{f['in_tune']:>9.0%}{f.get('top1', float('nan')):>8.0%}{f['flux_db']:>8.2f}"
              f"{f.get('flux_ratio', 1.0):>7.2f}{f['bursts_per_note']:>8.2f}{f.get('envelope_error_db', 0.0):>8.1f}")
    g = result["condition_gain"]
    if g:
        print(f"LM loss on the real notes {g['loss']:.3f} nats/code (first 0.25 s {g['loss_onset']:.3f}); gain:")
        for name in g["gain"]:
            print(f"  {name:16} {g['gain'][name]:+.3f}  first 0.25 s {g['gain_onset'][name]:+.3f}")
    print(f"{result['seconds_per_note']:.2f} s per generated note (batches of {len(pitches)}, one thread)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
