"""General MIDI programs as NSynth instrument families and sources.

NSynth labels each instrument with one of 11 families and one of 3 sources
(acoustic: recorded from an acoustic instrument; electronic: an electric or
electronic instrument, e.g. an electric guitar or a drawbar organ; synthetic: a
synthesizer). GM's 128 melodic programs (bank 0) are mapped here by what the
program imitates, so that a note rendered from a soundfont carries the same
conditions as an NSynth note of that kind. Where GM has no NSynth family:

- synth pads (88-95) and synth effects (96-103) become ``synth_lead``,
  NSynth's only synthesizer family, which holds its pads too;
- free reeds (accordion, harmonica, bagpipe) are ``reed``; celesta is a
  ``keyboard``; timpani, kalimba, tinkle bell and steel drums are ``mallet``
  (struck, pitched); sitar, banjo, shamisen and koto are ``guitar`` (plucked);
- programs that are not one pitched instrument are not rendered (``None``):
  orchestra hit (55, a chord of several families), agogo (113), the drums
  115-119 (woodblock, taiko, melodic tom, synth drum, reverse cymbal) and the
  sound effects 120-127 (fret noise, breath, seashore, bird, telephone,
  helicopter, applause, gunshot). Drum kits (bank 128) are never rendered.
"""

from __future__ import annotations

from livesampler.data.nsynth import FAMILIES, SOURCES

# (first program, last program, family, source); family None = not rendered.
_RANGES = (
    (0, 1, "keyboard", "acoustic"),  # Acoustic Grand, Bright Acoustic Piano
    (2, 2, "keyboard", "electronic"),  # Electric Grand Piano
    (3, 3, "keyboard", "acoustic"),  # Honky-tonk Piano
    (4, 5, "keyboard", "electronic"),  # Electric Piano 1, 2
    (6, 6, "keyboard", "acoustic"),  # Harpsichord
    (7, 7, "keyboard", "electronic"),  # Clavinet
    (8, 8, "keyboard", "acoustic"),  # Celesta
    (9, 15, "mallet", "acoustic"),  # Glockenspiel, Music Box, Vibraphone, Marimba, Xylophone, Tubular Bells, Dulcimer
    (16, 18, "organ", "electronic"),  # Drawbar, Percussive, Rock Organ
    (19, 20, "organ", "acoustic"),  # Church Organ, Reed Organ
    (21, 23, "reed", "acoustic"),  # Accordion, Harmonica, Tango Accordion
    (24, 25, "guitar", "acoustic"),  # Nylon, Steel String Guitar
    (26, 31, "guitar", "electronic"),  # Jazz, Clean, Muted, Overdriven, Distortion Guitar, Guitar Harmonics
    (32, 32, "bass", "acoustic"),  # Acoustic Bass
    (33, 37, "bass", "electronic"),  # Finger, Pick, Fretless, Slap Bass 1, 2
    (38, 39, "bass", "synthetic"),  # Synth Bass 1, 2
    (40, 46, "string", "acoustic"),  # Violin, Viola, Cello, Contrabass, Tremolo, Pizzicato Strings, Harp
    (47, 47, "mallet", "acoustic"),  # Timpani
    (48, 49, "string", "acoustic"),  # String Ensemble 1, 2
    (50, 51, "string", "synthetic"),  # Synth Strings 1, 2
    (52, 53, "vocal", "acoustic"),  # Choir Aahs, Voice Oohs
    (54, 54, "vocal", "synthetic"),  # Synth Voice
    (55, 55, None, None),  # Orchestra Hit
    (56, 61, "brass", "acoustic"),  # Trumpet, Trombone, Tuba, Muted Trumpet, French Horn, Brass Section
    (62, 63, "brass", "synthetic"),  # Synth Brass 1, 2
    (64, 71, "reed", "acoustic"),  # Soprano, Alto, Tenor, Baritone Sax, Oboe, English Horn, Bassoon, Clarinet
    (72, 79, "flute", "acoustic"),  # Piccolo, Flute, Recorder, Pan Flute, Bottle, Shakuhachi, Whistle, Ocarina
    (80, 87, "synth_lead", "synthetic"),  # Lead 1-8
    (88, 95, "synth_lead", "synthetic"),  # Pad 1-8
    (96, 103, "synth_lead", "synthetic"),  # FX 1-8
    (104, 107, "guitar", "acoustic"),  # Sitar, Banjo, Shamisen, Koto
    (108, 108, "mallet", "acoustic"),  # Kalimba
    (109, 109, "reed", "acoustic"),  # Bagpipe
    (110, 110, "string", "acoustic"),  # Fiddle
    (111, 111, "reed", "acoustic"),  # Shanai
    (112, 112, "mallet", "acoustic"),  # Tinkle Bell
    (113, 113, None, None),  # Agogo
    (114, 114, "mallet", "acoustic"),  # Steel Drums
    (115, 119, None, None),  # Woodblock, Taiko Drum, Melodic Tom, Synth Drum, Reverse Cymbal
    (120, 127, None, None),  # sound effects
)


def _table() -> tuple[tuple[str, str] | None, ...]:
    table: list[tuple[str, str] | None] = []
    for first, last, family, source in _RANGES:
        assert first == len(table), f"GM table has a gap or overlap at program {first}"
        assert family is None or (family in FAMILIES and source in SOURCES), (family, source)
        table.extend([(family, source) if family else None] * (last - first + 1))
    assert len(table) == 128
    return tuple(table)


# GM_PROGRAMS[program] = (family, source), or None for a program that is not rendered.
GM_PROGRAMS = _table()


def nsynth_labels(program: int) -> tuple[str, str] | None:
    """(family, source) of GM ``program`` (0-127), or None if it has no NSynth family."""
    return GM_PROGRAMS[program]


# The General MIDI names of programs 0-127, the words a performer knows them by.
GM_NAMES = (
    "acoustic grand piano", "bright acoustic piano", "electric grand piano", "honky-tonk piano",
    "electric piano 1", "electric piano 2", "harpsichord", "clavinet", "celesta", "glockenspiel", "music box",
    "vibraphone", "marimba", "xylophone", "tubular bells", "dulcimer", "drawbar organ", "percussive organ",
    "rock organ", "church organ", "reed organ", "accordion", "harmonica", "tango accordion",
    "acoustic guitar (nylon)", "acoustic guitar (steel)", "electric guitar (jazz)", "electric guitar (clean)",
    "electric guitar (muted)", "overdriven guitar", "distortion guitar", "guitar harmonics", "acoustic bass",
    "electric bass (finger)", "electric bass (pick)", "fretless bass", "slap bass 1", "slap bass 2",
    "synth bass 1", "synth bass 2", "violin", "viola", "cello", "contrabass", "tremolo strings",
    "pizzicato strings", "orchestral harp", "timpani", "string ensemble 1", "string ensemble 2",
    "synth strings 1", "synth strings 2", "choir aahs", "voice oohs", "synth voice", "orchestra hit", "trumpet",
    "trombone", "tuba", "muted trumpet", "french horn", "brass section", "synth brass 1", "synth brass 2",
    "soprano sax", "alto sax", "tenor sax", "baritone sax", "oboe", "english horn", "bassoon", "clarinet",
    "piccolo", "flute", "recorder", "pan flute", "blown bottle", "shakuhachi", "whistle", "ocarina",
    "lead 1 (square)", "lead 2 (sawtooth)", "lead 3 (calliope)", "lead 4 (chiff)", "lead 5 (charang)",
    "lead 6 (voice)", "lead 7 (fifths)", "lead 8 (bass + lead)", "pad 1 (new age)", "pad 2 (warm)",
    "pad 3 (polysynth)", "pad 4 (choir)", "pad 5 (bowed)", "pad 6 (metallic)", "pad 7 (halo)", "pad 8 (sweep)",
    "fx 1 (rain)", "fx 2 (soundtrack)", "fx 3 (crystal)", "fx 4 (atmosphere)", "fx 5 (brightness)",
    "fx 6 (goblins)", "fx 7 (echoes)", "fx 8 (sci-fi)", "sitar", "banjo", "shamisen", "koto", "kalimba",
    "bagpipe", "fiddle", "shanai", "tinkle bell", "agogo", "steel drums", "woodblock", "taiko drum",
    "melodic tom", "synth drum", "reverse cymbal", "guitar fret noise", "breath noise", "seashore",
    "bird tweet", "telephone ring", "helicopter", "applause", "gunshot",
)
assert len(GM_NAMES) == 128
