"""Training of the pocket models: codec, CLAP, language model."""
