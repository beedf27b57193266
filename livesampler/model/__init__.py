"""The instrument model: codec, CLAP encoders, conditioned codec language model, sampling.

Nothing here downloads anything: every weight file is read from a local path.
The Hugging Face libraries that some backends import are put in offline mode
before they are first imported, so a missing file fails at once with our own
error instead of hanging on a network call.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Loading a text encoder draws progress bars on stderr; on stage they are noise.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


class ModelError(Exception):
    """A model file or request that cannot be used; the message says what to do."""
