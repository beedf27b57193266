"""Trainers: the codec language model (and, with them, the pocket codec and CLAP)."""
