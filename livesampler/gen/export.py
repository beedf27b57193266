"""A generated instrument as a sample library: WAV files, an SFZ file that any
SFZ player or DAW sampler loads, and a Decent Sampler preset.

    OUT/<name>/<name>.sfz          one region per generated note
    OUT/<name>/<name>.dspreset     the same notes, one group per velocity layer
    OUT/<name>/samples/p060_v100.wav
    OUT/<name>/instrument.json     what made it: prompt, seed, sampling, model ids

The SFZ plays the instrument the way the live host does. Each key plays the
nearest generated pitch (ties to the lower one) and, of that pitch, the nearest
velocity layer (ties to the softer one): ``lokey``/``hikey`` and
``lovel``/``hivel`` are the ranges the host's keymap gives. A layer's note keeps
the level it was generated with when played at the layer's own velocity, and
follows SFZ's standard curve (gain ~ velocity squared) around it; the ``volume``
of each region undoes the curve at the layer's velocity. Generated audio that
peaks above full scale is scaled down as a whole and every region's ``volume``
gives the level back (a region's opcode replaces a ``<global>`` one, it does not
add to it), so fixed-point files never clip and the layers keep their balance.

The Decent Sampler preset maps the same ranges. Its velocity curve is linear
(``ampVelTrack`` 1: gain = velocity / 127), not SFZ's square, so each layer's
group volume undoes that curve instead: at a layer's own velocity the note
keeps its generated level in both, and between layers Decent Sampler's level
follows its own curve.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from livesampler.gen.offline import make_notes
from livesampler.gen.spec import NoteKey
from livesampler.gen.store import CacheEntryError, CachedInstrument, SampleStore, note_name

SUBTYPES = {"16": "PCM_16", "24": "PCM_24", "float": "FLOAT"}
HEADROOM = 0.999  # highest peak written to a fixed-point file


class ExportError(Exception):
    """An instrument that cannot be exported; the message says what to do."""


@dataclass
class ExportReport:
    folder: Path
    sfz: Path
    dspreset: Path
    notes: int  # regions written
    damaged: list[str]  # notes left out (and removed from the cache) because their file failed its check
    scale_db: float  # gain applied to the samples (<= 0) and given back in the SFZ and the preset


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:60] or "instrument"


def spans(values: Iterable[int], lowest: int = 0, highest: int = 127) -> dict[int, tuple[int, int]]:
    """For each of ``values``, the range of lowest..highest that is nearer to it than to the others
    (a tie goes to the lower value): the key or velocity range a sample answers."""
    chosen = sorted(set(values))
    out = {}
    for i, v in enumerate(chosen):
        lo = lowest if i == 0 else (chosen[i - 1] + v) // 2 + 1
        hi = highest if i + 1 == len(chosen) else (v + chosen[i + 1]) // 2
        out[v] = (lo, hi)
    return out


def layer_volume_db(layer: int, exponent: float = 2.0) -> float:
    """dB that bring a note generated at velocity ``layer`` back to its own level under the velocity curve."""
    return 20.0 * exponent * math.log10(127.0 / layer)


def sfz_text(keys: Iterable[NoteKey], release: float, scale_db: float, header: list[str]) -> str:
    """The SFZ file playing the notes ``keys`` from ``samples/``."""
    lines = [f"// {line}" for line in header]
    lines += ["", "<control>", "default_path=samples/", "",
              "<global>", f"ampeg_release={release:g}", "amp_veltrack=100", ""]
    by_pitch: dict[int, list[int]] = {}
    for pitch, layer in keys:
        by_pitch.setdefault(pitch, []).append(layer)
    keys = spans(by_pitch)
    for pitch in sorted(by_pitch):
        lokey, hikey = keys[pitch]
        vels = spans(by_pitch[pitch])
        lines.append(f"<group> lokey={lokey} hikey={hikey} pitch_keycenter={pitch}")
        for layer in sorted(by_pitch[pitch]):
            lovel, hivel = vels[layer]
            lines.append(f"<region> sample={note_name((pitch, layer))} lovel={max(lovel, 1)} hivel={hivel} "
                         f"volume={layer_volume_db(layer) - scale_db:.4f}")
    lines.append("")
    return "\n".join(lines)


def _comment_safe(text: str) -> str:
    """``text`` as XML comment content: a prompt may hold "--" or control characters, which end or break one."""
    text = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", " ", text)
    while "--" in text:
        text = text.replace("--", "- -")
    return text


def dspreset_text(keys: Iterable[NoteKey], release: float, scale_db: float, header: list[str],
                  loops: dict[NoteKey, tuple[int, int]] | None = None) -> str:
    """The Decent Sampler preset playing the notes ``keys`` from ``samples/``.

    ``loops`` gives a note's loop as (first frame, last frame) in its file; a
    note without one plays once to its end, as in the SFZ.
    """
    by_pitch: dict[int, list[int]] = {}
    for pitch, layer in keys:
        by_pitch.setdefault(pitch, []).append(layer)
    key_spans = spans(by_pitch)
    by_layer: dict[int, list[int]] = {}
    for pitch, layers in by_pitch.items():
        for layer in layers:
            by_layer.setdefault(layer, []).append(pitch)
    root = ET.Element("DecentSampler", minVersion="1.0.0")
    for line in header:
        root.append(ET.Comment(f" {_comment_safe(line)} "))
    # Generated notes start from silence and have no envelope of their own: the
    # host plays them at full level from the first frame and releases them in
    # ``release`` seconds, and so does this.
    groups = ET.SubElement(root, "groups", attack="0", decay="0", sustain="1", release=f"{release:g}")
    for layer in sorted(by_layer):
        group = ET.SubElement(groups, "group", name=f"velocity {layer}", ampVelTrack="1",
                              volume=f"{layer_volume_db(layer, 1.0) - scale_db:.4f}dB")
        for pitch in sorted(by_layer[layer]):
            lo_note, hi_note = key_spans[pitch]
            lo_vel, hi_vel = spans(by_pitch[pitch])[layer]
            sample = ET.SubElement(group, "sample", path=f"samples/{note_name((pitch, layer))}",
                                   rootNote=str(pitch), loNote=str(lo_note), hiNote=str(hi_note),
                                   loVel=str(max(lo_vel, 1)), hiVel=str(hi_vel))
            loop = (loops or {}).get((pitch, layer))
            if loop is not None:
                sample.set("loopStart", str(loop[0]))
                sample.set("loopEnd", str(loop[1]))
                sample.set("loopEnabled", "true")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def export_instrument(store: SampleStore, inst: CachedInstrument, out: str | Path, *, bits: str = "24",
                      release: float = 0.25, keys: set[NoteKey] | None = None, force: bool = False,
                      progress: Callable[[int, int], None] | None = None) -> ExportReport:
    """Write ``inst`` (only ``keys`` of it, if given) as a sample library under ``out``."""
    if bits not in SUBTYPES:
        raise ExportError(f"bits must be one of {', '.join(SUBTYPES)}, not {bits!r}")
    wanted = [k for k in inst.notes if keys is None or k in keys]
    if not wanted:
        raise ExportError(f"instrument {inst.id[:8]} ({inst.name}) has none of the notes asked for yet: "
                          "play it, or export with --complete to make them first")
    name = slug(inst.name)
    folder = Path(out) / name
    sfz_path = folder / f"{name}.sfz"
    dspreset_path = folder / f"{name}.dspreset"
    if folder.exists() and any(folder.iterdir()) and not force:
        raise ExportError(f"{folder} exists and is not empty: give another -o, or --force to replace it")

    notes, damaged = {}, []
    for key in wanted:
        try:
            audio, rate = store.read(inst.id, key)
        except FileNotFoundError:
            continue  # cleared by another host meanwhile
        except CacheEntryError as e:
            damaged.append(str(e))
            store.discard(inst.id, key)  # as the live cache does: gone, so that it is made again
            continue
        notes[key] = (audio, rate)
    if not notes:
        raise ExportError(f"every note of instrument {inst.id[:8]} failed its check: play or --complete "
                          "it again to remake them")
    peak = max(float(np.abs(audio).max()) for audio, _ in notes.values())
    scale = HEADROOM / peak if bits != "float" and peak > HEADROOM else 1.0
    scale_db = 20.0 * math.log10(scale)

    temp = folder.with_name(f".{name}.export")
    shutil.rmtree(temp, ignore_errors=True)
    (temp / "samples").mkdir(parents=True)
    for done, (key, (audio, rate)) in enumerate(sorted(notes.items()), 1):
        soundfile.write(temp / "samples" / note_name(key), audio * scale, rate, subtype=SUBTYPES[bits])
        if progress is not None:
            progress(done, len(notes))
    m = inst.manifest
    made_from = f"prompt: {m['prompt']}" if m.get("prompt") else f"reference sound: {m.get('reference', '?')}"
    header = [f"{inst.name}: an instrument generated by livesampler", made_from,
              f"id {inst.id}, seed {m.get('seed', '?')}, {len(notes)} notes", "made-with details: instrument.json"]
    (temp / sfz_path.name).write_text(sfz_text(notes, release, scale_db, header), encoding="utf-8")
    # Cached notes carry no loop points yet, so the preset names none.
    (temp / dspreset_path.name).write_text(dspreset_text(notes, release, scale_db, header), encoding="utf-8")
    (temp / "instrument.json").write_text(json.dumps(
        {**{k: v for k, v in m.items() if k != "notes"}, "id": inst.id, "name": inst.name,
         "notes": [list(k) for k in sorted(notes)], "sample_scale_db": scale_db}, indent=1), encoding="utf-8")
    # Swapped in whole: an export stopped half-way leaves the earlier one as it was.
    if folder.exists():
        old = folder.with_name(f".{name}.old")
        shutil.rmtree(old, ignore_errors=True)
        folder.rename(old)
        temp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    else:
        folder.parent.mkdir(parents=True, exist_ok=True)
        temp.rename(folder)
    return ExportReport(folder, sfz_path, dspreset_path, len(notes), damaged, scale_db)


def make_missing(source, spec, store: SampleStore, keys: Iterable[NoteKey], batch_size: int = 1,
                 progress: Callable[[int, int], None] | None = None) -> int:
    """Generate the notes of ``keys`` that the cache lacks, in this process, with the model ``source``
    builds; they land in the cache as the live host's would. Returns how many were made."""
    report = None if progress is None else (lambda done, total, _spec: progress(done, total))
    return make_notes(source, [(spec, keys)], store, batch_size, report)
