"""Text captions of notes, built from their metadata, for training and judging text prompts.

The pocket CLAP learns to put a caption and its note's audio close together
(``livesampler train clap``), so the words a performer types must be words the
captions use. What a note set says of a note is its instrument's name (for
soundfont renders, the preset name: "Yamaha Grand Piano"; NSynth's own names,
"bass_synthetic_033", say nothing beyond family and source), its family, its
source, its qualities (NSynth's listener labels; rendered notes have none) and its
velocity.

``caption`` gives one fixed caption per instrument (what evaluation prompts with);
``caption_forms`` lists the phrasings training draws from, so that a short prompt
("piano") and a long one ("a bright acoustic piano") both land near the right
notes. A phrasing like "keyboard" fits many instruments: contrastive training
counts every note it fits as a match, not only the one it was drawn for.
"""

from __future__ import annotations

import random
import re
from itertools import combinations

from livesampler.data.nsynth import Note

FAMILY_WORDS = {"bass": "bass", "brass": "brass", "flute": "flute", "guitar": "guitar", "keyboard": "keyboard",
                "mallet": "mallet percussion", "organ": "organ", "reed": "reed instrument", "string": "strings",
                "synth_lead": "synth lead", "vocal": "voice"}
QUALITY_WORDS = {"bright": "bright", "dark": "dark", "distortion": "distorted", "fast_decay": "short",
                 "long_release": "long release", "multiphonic": "multiphonic", "nonlinear_env": "evolving",
                 "percussive": "percussive", "reverb": "reverberant", "tempo-synced": "rhythmic"}

# render.py's "<font>_<program:03d>_<preset name>"; NSynth's "<family>_<source>_<number>" has no name part
_RENDERED = re.compile(r"^.+?_(\d{3})_(.+)$")


def instrument_words(instrument_str: str) -> str:
    """The instrument's own name in words, "" when the set gives none (NSynth)."""
    match = _RENDERED.match(instrument_str)
    if not match:
        return ""
    return " ".join(w for w in match.group(2).split("_") if w and not w.isdigit())


def _parts(note: Note) -> tuple[str, str, str, list[str]]:
    family = FAMILY_WORDS.get(note.instrument_family_str, note.instrument_family_str.replace("_", " "))
    qualities = [QUALITY_WORDS.get(q, q.replace("_", " ")) for q in note.qualities_str]
    return instrument_words(note.instrument_str), family, note.instrument_source_str, qualities


def _a(words: str) -> str:
    return f"{'an' if words[:1] in 'aeiou' else 'a'} {words}"


def caption(note: Note) -> str:
    """The instrument's caption: "yamaha grand piano, acoustic keyboard" (qualities first when any)."""
    name, family, source, qualities = _parts(note)
    kind = " ".join([*qualities, source, family])
    return f"{name}, {kind}" if name else kind


def caption_forms(note: Note) -> list[str]:
    """Every phrasing training may use for the note, the fixed caption first."""
    name, family, source, qualities = _parts(note)
    dynamic = "soft" if note.velocity < 64 else "loud"
    # no quality, each one, each pair: enough for a prompt that names one or two
    picked = [[]] + [[q] for q in qualities] + [list(pair) for pair in combinations(qualities, 2)]
    forms = [caption(note), _a(f"{source} {family}"), family, _a(f"{dynamic} {source} {family} note")]
    forms += [" ".join([*p, family]) for p in picked[1:]]
    if name:
        forms += [name, f"{name} sound", _a(f"{dynamic} {name} note"), f"{name}, {family}"]
        forms += [" ".join([*p, name]) for p in picked[1:]]
    return list(dict.fromkeys(forms))


def random_caption(note: Note, rng: random.Random) -> str:
    """One of ``caption_forms``, drawn with ``rng``."""
    return rng.choice(caption_forms(note))


def gm_words(instrument_str: str) -> str:
    """The General MIDI name of a rendered instrument's program ("acoustic grand piano"), "" for others."""
    from livesampler.data.gm import GM_NAMES

    match = _RENDERED.match(instrument_str)
    if not match:
        return ""
    return re.sub(r"[()]", "", GM_NAMES[int(match.group(1)) % 128])


def instrument_caption_forms(instrument_str: str, family: str, source: str) -> list[str]:
    """Phrasings of an instrument from what a features index keeps of it (no qualities, no velocity):
    its preset name and its General MIDI name, with and without family and source words."""
    family_words = FAMILY_WORDS.get(family, family.replace("_", " "))
    name, gm = instrument_words(instrument_str), gm_words(instrument_str)
    forms = [f"{source} {family_words}", family_words]
    for words in dict.fromkeys(w for w in (name, gm) if w):
        forms += [words, f"{words}, {source} {family_words}", f"{words} sound", _a(words)]
    return list(dict.fromkeys(forms))
