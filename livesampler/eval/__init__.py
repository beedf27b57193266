"""What a generated instrument is worth: objective measures, on generated notes and on real ones.

- ``consistency.py``: timbral consistency of one instrument from the CLAP audio
  embeddings of its notes (a covariance score and the mean pairwise cosine), and
  the shuffled mixes of real notes that calibrate it;
- ``clap_score.py``: agreement between prompts and instruments, raw and as retrieval ranks;
- ``fad.py``: Fréchet distance between generated and real notes' embeddings;
- ``embeddings.py``: embeddings of a note set's notes, cached next to it;
- ``pitch.py``: the fundamental of each note (pYIN) against the pitch asked for;
- ``notes.py``: which held-out instruments, keys and reference notes are evaluated;
- ``real.py`` and ``run.py``: ``livesampler eval real`` and ``livesampler eval --checkpoint``;
- ``report.py``: the Markdown report and its plots.

The same measures run on the real notes of the held-out instruments at the same
keys: that is the ceiling each model is read against.
"""


class EvalError(Exception):
    """An evaluation that cannot run on what it was given; the message says what to do."""
