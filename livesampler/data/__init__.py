"""Note sets: NSynth as published, and notes rendered from General MIDI soundfonts in its format.

``nsynth.py`` reads a folder in NSynth's layout; ``render.py`` writes one from a
soundfont (``gm.py`` says which NSynth family and source each GM program
becomes), so training reads real NSynth and rendered notes with the same code.
``features.py`` holds what the language model trains on: codec codes and CLAP
embeddings of every note.
"""


class DatasetError(Exception):
    """A note set or soundfont that cannot be used; the message says which file and why."""
