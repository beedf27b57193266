"""The readable report of ``livesampler eval``: ``report.md`` and its plots, from the ``eval.json`` result.

One column per checkpoint next to the real notes' column (the ceiling), so the
CLAP schemes read side by side; two plots: pitch accuracy per key, and each
instrument's consistency, real, shuffled and generated. Plots are drawn with
matplotlib's Agg backend (files only, no display).
"""

from __future__ import annotations

from pathlib import Path

GROUPS = (("audio_prompts", "audio prompt"), ("text_prompts", "text prompt"))


def _num(x, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _get(d, *path):
    for key in path:
        if not isinstance(d, dict) or d.get(key) is None:
            return None
        d = d[key]
    return d


def _rows(result: dict) -> list[tuple[str, str, list[str]]]:
    """(measure, real value, one value per checkpoint) for the comparison table."""
    real, ckpts = result["real"], result["checkpoints"]
    captions = real.get("clap_score_text") is not None
    rows = []

    def add(label, real_value, values):
        rows.append((label, real_value, values))

    for measure, name, digits in (("cosine", "mean cosine", 4), ("covariance", "covariance score", 2)):
        real_value = _num(_get(real, "timbral_consistency", measure, "mean"), digits)
        for group, word in GROUPS:
            add(f"consistency, {name} ({word}s)", real_value if group == "audio_prompts" or captions else "-",
                [_num(_get(c, group, "timbral_consistency", measure, "mean"), digits) for c in ckpts])
    for key, name in (("within_50_cents", "pitch within 50 cents"), ("octave_errors", "octave errors"),
                      ("unvoiced", "unvoiced notes")):
        for group, word in GROUPS:
            add(f"{name} ({word}s)", _pct(_get(real, "pitch_accuracy", key))
                if group == "audio_prompts" or captions else "-",
                [_pct(_get(c, group, "pitch_accuracy", key)) for c in ckpts])
    for key, name in (("clap", "FAD, CLAP"), ("mel", "FAD, log-mel")):
        for group, word in GROUPS:
            add(f"{name} ({word}s)", _num(_get(real, "fad", key)) if group == "audio_prompts" or captions else "-",
                [_num(_get(c, group, "fad", key)) for c in ckpts])
    for group, real_key, word in (("audio_prompts", "clap_score_audio", "audio prompt"),
                                  ("text_prompts", "clap_score_text", "text prompt")):
        add(f"CLAP score: {word} vs notes, mean cosine", _num(_get(real, real_key, "mean_cosine")),
            [_num(_get(c, group, "clap_score", "mean_cosine")) for c in ckpts])
        chance = _get(ckpts[0], group, "clap_score", "retrieval", "chance_mean_rank") if ckpts else None
        add(f"{word} retrieval, mean rank (chance {_num(chance, 1)})",
            _num(_get(real, real_key, "retrieval", "mean_rank"), 2),
            [_num(_get(c, group, "clap_score", "retrieval", "mean_rank"), 2) for c in ckpts])
        chance = _get(ckpts[0], group, "clap_score", "retrieval", "chance_recall_at_1") if ckpts else None
        add(f"{word} retrieval, recall@1 (chance {_pct(chance)})",
            _pct(_get(real, real_key, "retrieval", "recall_at_1")),
            [_pct(_get(c, group, "clap_score", "retrieval", "recall_at_1")) for c in ckpts])
    return rows


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def plot_pitch(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
    series = [("real notes", result["real"]["pitch_accuracy"], "k", "-")]
    for c in result["checkpoints"]:
        for group, word in GROUPS:
            series.append((f"{c['label']}, {word}s", c[group]["pitch_accuracy"], None,
                           "-" if group == "audio_prompts" else "--"))
    for label, acc, color, style in series:
        keys = sorted(acc["per_key"], key=int)
        x = [int(k) for k in keys]
        within = [acc["per_key"][k]["within_50_cents"] for k in keys]
        cents = [acc["per_key"][k]["median_abs_cents"] for k in keys]
        kwargs = {"color": color} if color else {}
        top.plot(x, [100 * w for w in within], style, marker="o", markersize=3, label=label, **kwargs)
        bottom.plot(x, [float("nan") if c is None else c for c in cents], style, marker="o", markersize=3,
                    label=label, **kwargs)
    top.set_ylabel("% within 50 cents")
    top.set_ylim(-3, 103)
    bottom.set_yscale("symlog", linthresh=10)
    bottom.set_ylim(bottom=0)
    bottom.axhline(50, color="grey", linewidth=0.8, linestyle=":")
    bottom.set_ylabel("median |error|, cents")
    bottom.set_xlabel("MIDI pitch asked for")
    top.legend(fontsize=7, loc="lower left")
    top.set_title("Pitch accuracy per key (pitched families)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_consistency(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    real = result["real"]
    names = list(real["timbral_consistency"]["cosine"]["per_instrument"])
    captions = real.get("clap_score_text") is not None
    series = [("real", real["timbral_consistency"], "k", "o"),
              ("shuffled mix", real["timbral_consistency_shuffled"], "grey", "x")]
    for c in result["checkpoints"]:
        series.append((f"{c['label']}, audio prompt", c["audio_prompts"]["timbral_consistency"], None, "s"))
        if captions:
            series.append((f"{c['label']}, caption", c["text_prompts"]["timbral_consistency"], None, "^"))
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.45 * len(names) + 1.8), sharey=True)
    y = list(range(len(names)))
    for ax, measure, title in ((axes[0], "cosine", "mean pairwise cosine"), (axes[1], "covariance",
                                                                              "covariance score")):
        for label, scores, color, marker in series:
            values = scores[measure]["per_instrument"]
            xs = [values.get(n, float("nan")) for n in names]
            kwargs = {"color": color} if color else {}
            ax.plot(xs, y, marker, linestyle="none", label=label, **kwargs)
        ax.set_title(f"{title} (higher = more consistent)", fontsize=9)
        ax.grid(axis="x", linewidth=0.4)
    axes[0].set_yticks(y, [n[-34:] for n in names], fontsize=7)
    axes[0].invert_yaxis()
    axes[1].legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(result: dict, out: Path) -> list[Path]:
    """Writes ``report.md``, ``pitch_error.png`` and ``consistency.png`` into ``out``; returns their paths."""
    out = Path(out)
    plot_pitch(result, out / "pitch_error.png")
    plot_consistency(result, out / "consistency.png")
    real, ckpts = result["real"], result["checkpoints"]
    labels = [c["label"] for c in ckpts]
    keys = result["keys"]
    lines = [
        "# Evaluation",
        "",
        f"Note set `{result['note_set']}`, {result['split']} split: {len(result['instruments'])} held-out "
        f"instruments at pitches {', '.join(map(str, keys['pitches']))} and velocities "
        f"{', '.join(map(str, keys['velocities']))} (only the keys each instrument has). Codec `{result['codec']}`, "
        f"CLAP `{result['clap']}`; sampler {result['sampling']['sampler']}, top-k {result['sampling']['top_k']}, "
        f"temperature {result['sampling']['temperature']}, guidance {result['sampling']['guidance_scale']}, "
        f"seed {result['seed']}. {result['seconds']:.0f} s in all.",
        "",
        "Each checkpoint made one instrument per held-out instrument from its reference note's audio "
        "embedding (*audio prompts*) and one per text prompt (*text prompts*: "
        + ("each instrument's caption" if real.get("clap_score_text") is not None else "the lines of the prompts file")
        + "). The *real notes* column measures the held-out instruments themselves at the same keys: the ceiling.",
        "",
        "## Comparison",
        "",
    ]
    lines += _table(["measure", "real notes", *labels], [[m, r, *v] for m, r, v in _rows(result)])
    mixed = real["timbral_consistency_shuffled"]
    above = mixed["real_above_mix"]
    lines += [
        "",
        f"Shuffled mixes of real notes (each real instrument's keys, drawn from other instruments): mean cosine "
        f"{_num(mixed['cosine']['mean'], 4)}, covariance score {_num(mixed['covariance']['mean'], 2)}; the real "
        f"instrument scores above its mix for {above['cosine']} (cosine) and {above['covariance']} (covariance) of "
        f"{above['instruments']} instruments. A generated instrument near the mixes is no more consistent than "
        "notes of unrelated instruments.",
        "",
    ]
    if len(ckpts) > 1:
        schemes = [f"{c['label']}: `{c['path']}`" + (f", step {c['step']}" if c.get("step") is not None else "")
                   for c in ckpts]
        lines += ["Checkpoints: " + "; ".join(schemes) + ".", ""]
    lines += ["## Timbral consistency per instrument", "", "![consistency](consistency.png)", ""]
    header = ["instrument", "family", "notes", "real", "shuffled", *[f"{label} (audio)" for label in labels]]
    rows = []
    for inst in result["instruments"]:
        name = inst["name"]
        rows.append([name, inst["family"], str(inst["notes"]),
                     _num(_get(real, "timbral_consistency", "cosine", "per_instrument", name), 4),
                     _num(_get(mixed, "cosine", "per_instrument", name), 4),
                     *[_num(_get(c, "audio_prompts", "timbral_consistency", "cosine", "per_instrument", name), 4)
                       for c in ckpts]])
    lines += ["Mean pairwise cosine:", ""] + _table(header, rows) + [""]
    lines += ["## Pitch accuracy", "", "![pitch error per key](pitch_error.png)", ""]
    unpitched = real["pitch_accuracy"]["unpitched_families"]
    lines += [("Unpitched families (more than half of their real notes have no pitch), reported apart: "
               + ", ".join(unpitched) + ".") if unpitched else "Every family's real notes are pitched.", ""]
    families = sorted(real["pitch_accuracy"]["families"])
    header = ["family", "real", *[f"{label} ({word})" for label in labels for _, word in GROUPS]]
    rows = [[f, _pct(_get(real, "pitch_accuracy", "families", f, "within_50_cents"))]
            + [_pct(_get(c, group, "pitch_accuracy", "families", f, "within_50_cents"))
               for c in ckpts for group, _ in GROUPS] for f in families]
    lines += ["Share within 50 cents per family:", ""] + _table(header, rows) + [""]
    lines += ["## Prompts", ""]
    header = ["prompt", "for", *[f"{label}: rank, cosine" for label in labels]]
    rows = []
    for name, prompt in result["text_prompts"].items():
        rows.append([prompt, name,
                     *[f"{_get(c, 'text_prompts', 'clap_score', 'retrieval', 'ranks', name)}, "
                       f"{_num(_get(c, 'text_prompts', 'clap_score', 'per_prompt', name))}" for c in ckpts]])
    lines += ["Text prompts: the rank of each prompt's own instrument among all text-prompted instruments "
              "(1 = closest), and the mean cosine between the prompt and its instrument's notes.", ""]
    lines += _table(header, rows) + [""]
    lines += [
        "## What the numbers mean",
        "",
        "- **Timbral consistency**, from the CLAP audio embeddings of an instrument's notes, higher = more "
        "consistent. *Mean cosine*: the mean cosine similarity over all pairs of notes. *Covariance score*: minus "
        "the mean log variance per dimension of the notes' Ledoit-Wolf shrunk covariance; it also rewards spread "
        "along few directions over spread in many. Both depend on the number of notes: compare at the same keys. "
        "Consistency alone cannot see quality (the same noise at every key is perfectly consistent): read it "
        "with FAD and pitch accuracy.",
        "- **Pitch accuracy**: pYIN's f0 (median over the voiced frames of 0.1-1.1 s) against the pitch asked "
        "for; within 50 cents is right, 1200 ± 50 cents is an octave error, a note with under a quarter of its "
        "frames voiced is unvoiced (and not right).",
        "- **FAD**: Fréchet distance between Gaussians fitted to the notes' embeddings and to every real note of "
        f"the split at the same keys ({result['fad_reference']['notes']} notes); lower = closer. On CLAP "
        "embeddings and on log-mel statistics (weight-free). The real notes' value is what a model reproducing "
        "the held-out instruments exactly would score; it is biased by the number of notes, so compare only "
        "within one report.",
        "- **CLAP score**: the mean cosine between a prompt's embedding (text, or the reference note's audio) and "
        "the instrument's notes, and the retrieval rank of the prompt's own instrument among all instruments of "
        "the run (by the cosine to each instrument's mean embedding). A raw cosine depends on the CLAP model; "
        "ranks and recall@1 can be compared across CLAP models, against chance. For real notes, the audio prompt "
        "is each instrument's own reference note, left out of its notes.",
        "",
    ]
    (out / "report.md").write_text("\n".join(lines))
    return [out / "report.md", out / "pitch_error.png", out / "consistency.png"]
