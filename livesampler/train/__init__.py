"""Training of the pocket models and the language model: codec, CLAP, LM."""
