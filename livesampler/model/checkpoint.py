"""Model files on disk: a folder with ``model.safetensors`` (weights) and ``config.json``.

``config.json`` names the format and its version, the model's config (so the
model is rebuilt from the file, not from flags), and for a language model the
ids of the codec and CLAP it was trained with: its tokens only mean something
with that codec, and its CLAP condition only with that CLAP, so loading it next
to other ones is refused. Safetensors and JSON hold data only; nothing here
unpickles.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from livesampler.model import ModelError
from livesampler.model.lm import LanguageModel, LMConfig

WEIGHTS, CONFIG = "model.safetensors", "config.json"
LM_FORMAT, LM_VERSION = "livesampler-lm", 1


class CheckpointError(ModelError):
    """A model folder that is missing, damaged, or made for other files."""


def file_digest(path: str | Path) -> str:
    """First 16 hex digits of the file's SHA-256: the id of a weights file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def load_exactly(module: torch.nn.Module, state: dict, what: str, error=CheckpointError):
    """Load ``state`` into ``module`` only if every name and shape fits; else ``error`` saying which don't."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    reshaped = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    problems = [f"{len(names)} {kind}, e.g. {', '.join(names[:2])}"
                for kind, names in (("missing", missing), ("unexpected", unexpected), ("of another shape", reshaped))
                if names]
    if problems:
        raise error(f"{what} ({'; '.join(problems)})")
    module.load_state_dict(state, strict=True)


def write_model_folder(path: str | Path, fmt: str, version: int, config: dict, module: torch.nn.Module,
                       state: dict | None = None) -> Path:
    """Writes both files through temporary names, so a crash never leaves half a model."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in (state or module.state_dict()).items()}
    save_file(tensors, path / (WEIGHTS + ".tmp"))
    (path / (CONFIG + ".tmp")).write_text(json.dumps({"format": fmt, "version": version, **config}, indent=2))
    os.replace(path / (WEIGHTS + ".tmp"), path / WEIGHTS)
    os.replace(path / (CONFIG + ".tmp"), path / CONFIG)
    return path


def read_model_folder(path: str | Path, fmt: str, version: int, what: str) -> tuple[dict, dict, str]:
    """-> (config, tensors, id). ``what`` names the model in errors ("LM checkpoint")."""
    path = Path(path)
    expected = f"expected a folder with {CONFIG} and {WEIGHTS} of format {fmt!r} version {version}"
    if not path.exists():
        raise CheckpointError(f"{what} {path} does not exist: {expected}")
    if not (path / CONFIG).is_file() or not (path / WEIGHTS).is_file():
        found = sorted(p.name for p in path.iterdir())[:6] if path.is_dir() else "a file"
        raise CheckpointError(f"{what} {path}: {expected}, found {found}")
    try:
        config = json.loads((path / CONFIG).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{what} {path}: {expected}, found a {CONFIG} that is not JSON ({e})") from None
    if not isinstance(config, dict) or (config.get("format"), config.get("version")) != (fmt, version):
        found = (config.get("format"), config.get("version")) if isinstance(config, dict) else type(config).__name__
        raise CheckpointError(f"{what} {path}: {expected}, found format/version {found}")
    try:
        tensors = load_file(path / WEIGHTS)
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{what} {path}: {expected}, found a {WEIGHTS} that safetensors cannot read "
                              f"({str(e).splitlines()[0][:100]})") from None
    return config, tensors, file_digest(path / WEIGHTS)


def save_lm(path: str | Path, lm: LanguageModel, codec_id: str, clap_id: str, extra: dict | None = None) -> Path:
    """``extra``: anything worth keeping with the weights (training step, data), JSON only."""
    config = {"lm": lm.cfg.to_dict(), "codec_id": codec_id, "clap_id": clap_id, "extra": extra or {}}
    return write_model_folder(path, LM_FORMAT, LM_VERSION, config, lm)


def load_lm(path: str | Path, codec_id: str | None = None, clap_id: str | None = None,
            device: str | torch.device = "cpu") -> tuple[LanguageModel, dict]:
    """-> (model in eval mode, config.json's contents). Refuses a checkpoint made for
    another codec or CLAP than the ids given (None skips that check)."""
    config, tensors, _ = read_model_folder(path, LM_FORMAT, LM_VERSION, "LM checkpoint")
    for name, given in (("codec", codec_id), ("CLAP", clap_id)):
        trained = config.get(f"{name.lower()}_id")
        if given is not None and trained != given:
            raise CheckpointError(f"LM checkpoint {path} was trained with {name} {trained!r} but the configured "
                                  f"{name} is {given!r}: configure the {name} it was trained with, or a "
                                  f"checkpoint trained with this one")
    lm = LanguageModel(LMConfig.from_dict(config["lm"]))
    load_exactly(lm, tensors, f"LM checkpoint {path}: the weights do not fit the model its {CONFIG} describes")
    return lm.to(device).eval(), config
