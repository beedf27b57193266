"""Regenerate the MIDI files that ship with livesampler from music21's corpus.

music21 is not a dependency of livesampler; run this with it installed
(``pip install music21``). Every part is played by program 0 (acoustic grand
piano) on its own channel, so the files drive a one-instrument sampler.

    python scripts/make_pieces.py
"""

from pathlib import Path

import mido
from music21 import corpus, instrument

ROOT = Path(__file__).resolve().parent.parent

PIECES = {
    ROOT / "livesampler" / "assets" / "demo.mid": "joplin/maple_leaf_rag.mxl",
    ROOT / "benchmarks" / "pieces" / "mozart_k545_exposition.mid": "mozart/k545/movement1_exposition.mxl",
    ROOT / "benchmarks" / "pieces" / "schumann_op48_no2.mid": "schumann_robert/opus48no2.mxl",
    ROOT / "benchmarks" / "pieces" / "bach_chorale_bwv253.mid": "bach/bwv253.mxl",
    ROOT / "benchmarks" / "pieces" / "beethoven_op18no1_mvt3.mid": "beethoven/opus18no1/movement3.mxl",
    ROOT / "benchmarks" / "pieces" / "clara_schumann_op17_mvt3.mid": "schumann_clara/opus17/movement3.xml",
}


def main() -> None:
    for out, source in PIECES.items():
        score = corpus.parse(source)
        for part in score.parts:
            for old in part.recurse().getElementsByClass(instrument.Instrument):
                part.remove(old, recurse=True)
            part.insert(0, instrument.Piano())
        out.parent.mkdir(parents=True, exist_ok=True)
        score.write("midi", fp=str(out))
        song = mido.MidiFile(str(out))
        notes = sum(1 for m in song if m.type == "note_on" and m.velocity > 0)
        print(f"{out.relative_to(ROOT)}: {source}, {song.length:.0f} s, {notes} notes, {out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
