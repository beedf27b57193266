"""Neural audio codecs behind one interface: audio <-> codes [B, K, T].

``DacCodec`` wraps descript-audio-codec. The pocket codec
(``livesampler.model.hnc``) implements the same ``Codec`` interface; it analyses
and synthesises at the note's pitch, which is why ``encode`` and ``decode`` take
an optional pitch. ``load_codec`` picks one by the config's ``model.codec``.
"""

from __future__ import annotations

import math
import pickle
import warnings
import zipfile
from abc import ABC, abstractmethod
from pathlib import Path

import torch

from livesampler.model import ModelError
from livesampler.model.checkpoint import file_digest, load_exactly


class CodecError(ModelError):
    """A codec weight file that cannot be used."""


class Codec(ABC):
    """Audio at ``sample_rate`` <-> ``num_codebooks`` streams of tokens at ``frame_rate``."""

    id: str  # identifies the weights (content hash): LM checkpoints record it

    @property
    @abstractmethod
    def sample_rate(self) -> int: ...

    @property
    @abstractmethod
    def num_codebooks(self) -> int: ...

    @property
    @abstractmethod
    def codebook_size(self) -> int: ...

    @property
    @abstractmethod
    def frame_rate(self) -> float: ...

    @abstractmethod
    def encode(self, audio: torch.Tensor, pitch: torch.Tensor | None = None) -> torch.Tensor:
        """audio [B, N] float at ``sample_rate`` -> codes [B, K, T], T = ceil(N / samples per frame);
        pitch [B] MIDI, if used (training knows every note's pitch)."""

    @abstractmethod
    def decode(self, codes: torch.Tensor, pitch: torch.Tensor | None = None) -> torch.Tensor:
        """codes [B, K, T] (K may be fewer than ``num_codebooks``) -> audio [B, N]; pitch [B] MIDI, if used."""

    def num_frames(self, seconds: float) -> int:
        return math.ceil(round(seconds * self.frame_rate, 6))


class DacCodec(Codec):
    """descript-audio-codec, from a weights file: the official ones, or one written by
    ``model.save(path, package=False)``. Both hold {"state_dict", "metadata": {"kwargs"}}.

    The file is read with ``torch.load(weights_only=True)``, so it can hold
    tensors and plain values only, never code; the model is rebuilt from the
    recorded constructor arguments and its weights must fit it exactly.
    """

    def __init__(self, model, id: str, num_codebooks: int | None = None):
        self.model = model.eval()
        self.id = id
        self.hop_length = int(model.hop_length)
        self._num_codebooks = model.n_codebooks if num_codebooks is None else num_codebooks
        if not 1 <= self._num_codebooks <= model.n_codebooks:
            raise CodecError(f"the codec has {model.n_codebooks} codebooks, asked for {num_codebooks}")

    @classmethod
    def load(cls, path: str | Path, num_codebooks: int | None = None, device: str = "cpu") -> DacCodec:
        import dac  # imports torchaudio, which is slow: only when a DAC is wanted

        path = Path(path)
        expected = ("expected a DAC weights file (the official weights_44khz_8kbps_0.0.1.pth, "
                    "or one saved with model.save(path, package=False))")
        if not path.is_file():
            raise CodecError(f"codec weights {path} do not exist: {expected}")
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as e:
            found = "a torch.package archive (needs unpickling code; re-save it with package=False)" \
                if _is_torch_package(path) else f"a file torch cannot read as plain weights ({_first_line(e)})"
            raise CodecError(f"codec weights {path}: {expected}, found {found}") from None
        if not (isinstance(saved, dict) and "state_dict" in saved and "kwargs" in saved.get("metadata", {})):
            found = f"a {type(saved).__name__}" + (f" with keys {sorted(saved)[:6]}" if isinstance(saved, dict) else "")
            raise CodecError(f"codec weights {path}: {expected}, found {found}")
        known = set(dac.DAC.__init__.__code__.co_varnames)
        kwargs = {k: v for k, v in saved["metadata"]["kwargs"].items() if k in known}
        with warnings.catch_warnings():
            # descript-audio-codec builds its layers with torch's deprecated weight_norm: its business, not the user's
            warnings.simplefilter("ignore", FutureWarning)
            model = dac.DAC(**kwargs)
        load_exactly(model, saved["state_dict"], f"codec weights {path}: {expected}, found weights that do not "
                     "fit the DAC its metadata describes", CodecError)
        return cls(model.to(device), f"dac-{file_digest(path)}", num_codebooks)

    @property
    def sample_rate(self) -> int:
        return int(self.model.sample_rate)

    @property
    def num_codebooks(self) -> int:
        return self._num_codebooks

    @property
    def codebook_size(self) -> int:
        return int(self.model.codebook_size)

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.inference_mode()
    def encode(self, audio: torch.Tensor, pitch: torch.Tensor | None = None) -> torch.Tensor:
        B, N = audio.shape  # DAC does not use the pitch
        padded = self.model.preprocess(audio.to(self.device)[:, None], self.sample_rate)  # [B, 1, T * hop]
        codes = self.model.encode(padded, n_quantizers=self.num_codebooks)[1]
        return codes[:, :self.num_codebooks]  # [B, K, T]

    @torch.inference_mode()
    def decode(self, codes: torch.Tensor, pitch: torch.Tensor | None = None) -> torch.Tensor:
        B, K, T = codes.shape
        if K > self.model.n_codebooks:
            raise CodecError(f"the codec has {self.model.n_codebooks} codebooks, the codes have {K}")
        z = self.model.quantizer.from_codes(codes.to(self.device))[0]
        audio = self.model.decode(z)[:, 0]  # [B, about T * hop]
        # Encoder rates with a factor 5 can leave the output a few samples short: make it exact.
        n = T * self.hop_length
        return torch.nn.functional.pad(audio, (0, max(0, n - audio.shape[1])))[:, :n]


def load_codec(family: str, path: str | Path, device: str | torch.device = "cpu") -> Codec:
    """The codec of ``model.codec`` = ``family`` from ``path``: "dac" a DAC weights file, "hnc" a model
    folder written by ``livesampler train codec`` (the pocket codec; it runs on the CPU)."""
    if family == "dac":
        return DacCodec.load(path, device=device)
    if family == "hnc":
        from livesampler.model.hnc import HarmonicNoiseCodec

        return HarmonicNoiseCodec.load(path)
    raise CodecError(f"unknown codec family {family!r}: \"dac\" or \"hnc\"")


def _is_torch_package(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return any(name.endswith(".data/extern_modules") for name in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
