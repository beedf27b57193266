"""Training the pocket CLAP contrastively (``livesampler train clap``).

Audio of a note and a caption of it (``data/captions.py``: the instrument's name,
family, source, qualities, loudness) are pulled together in the shared 512-d
space, and apart from the other pairs of the batch. Only the audio tower and the
text projection learn; MiniLM stays frozen, so a prompt made of words the
captions never used still lands somewhere sensible.

A batch holds one note of each of ``batch_size`` different instruments, so two
notes of one instrument are never pushed apart. A short caption ("keyboard") may
still fit several notes of a batch: every note a caption fits is a match, and
the loss is the cross-entropy against those matches spread evenly (InfoNCE with
several positives), both from audio to text and from text to audio.

Validation, at every checkpoint, on the valid split:
- the contrastive loss on fixed batches;
- instrument retrieval: each instrument's fixed caption against the mean audio
  embedding of up to ``val_notes_per_instrument`` of its notes; the rank of the
  right instrument (1 is best; chance is (n + 1) / 2) and recall at 1;
- family accuracy: each note's audio against "<family>" for the families of the
  split, as a zero-shot classifier.

Exact resumption as in ``train/lm.py``: a step's draws are seeded from (seed, step),
so the checkpoint keeps only weights, optimiser, schedule and step.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from livesampler.data.captions import FAMILY_WORDS, caption, caption_forms
from livesampler.data.nsynth import Note, read_audio, read_dataset
from livesampler.model import ModelError
from livesampler.model.clap import PocketClap, PocketClapConfig
from livesampler.train.loop import run_steps
from livesampler.train.state import has_checkpoint, jsonable, load_trainer_state, save_checkpoint, warmup_cosine

MAX_LOGIT_SCALE = math.log(100.0)  # CLIP's cap: beyond it the loss only sharpens, it stops learning


@dataclass(frozen=True)
class ClapTrainConfig:
    steps: int = 3000
    batch_size: int = 48  # instruments per step, one note each
    lr: float = 1e-3
    warmup: int = 100  # steps of linear warm-up, then cosine decay to lr / 10
    weight_decay: float = 0.01
    clip: float = 1.0
    eval_every: int = 250
    val_batches: int = 4
    val_notes_per_instrument: int = 8
    channels: tuple[int, ...] = PocketClapConfig.channels
    seed: int = 0

    def __post_init__(self):
        if self.steps < 1 or self.batch_size < 2 or self.eval_every < 1 or self.val_notes_per_instrument < 1:
            raise ModelError(f"training settings out of range (batch size at least 2): {self}")


def by_instrument(notes: list[Note]) -> dict[str, list[Note]]:
    groups: dict[str, list[Note]] = {}
    for n in sorted(notes, key=lambda n: n.note_str):
        groups.setdefault(n.instrument_str, []).append(n)
    return groups


def matches(captions: list[str], notes: list[Note]) -> torch.Tensor:
    """[B notes, B captions]: 1 where caption j is one of note i's phrasings."""
    forms = [set(caption_forms(n)) for n in notes]
    return torch.tensor([[float(c in f) for c in captions] for f in forms])


def contrastive_loss(audio: torch.Tensor, text: torch.Tensor, match: torch.Tensor,
                     logit_scale: torch.Tensor) -> torch.Tensor:
    """InfoNCE in both directions with several positives per row (``match`` [B, B], diagonal all 1)."""
    logits = logit_scale.clamp(max=MAX_LOGIT_SCALE).exp() * audio @ text.T
    to_text = -(F.log_softmax(logits, dim=1) * match / match.sum(1, keepdim=True)).sum(1).mean()
    to_audio = -(F.log_softmax(logits.T, dim=1) * match.T / match.T.sum(1, keepdim=True)).sum(1).mean()
    return (to_text + to_audio) / 2


class ClapTrainer:
    def __init__(self, cfg: ClapTrainConfig, data: str | Path, out: str | Path, device: str = "cpu",
                 text_encoder=None, log=print):
        """``text_encoder``: MiniLM unless given (tests give a small stand-in)."""
        self.cfg, self.data, self.out = cfg, Path(data), Path(out)
        self.device = torch.device(device)
        self.log = log
        splits = read_dataset(data)
        self.train_set = by_instrument(splits.get("train", []))
        self.val_set = by_instrument(splits.get("valid", []))
        if len(self.train_set) < 2:
            raise ModelError(f"{data}: the train split has {len(self.train_set)} instrument(s); contrastive "
                             "training needs at least 2 (render more programs or fonts)")
        self.instruments = sorted(self.train_set)
        self.out.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(cfg.seed)
        self.model = PocketClap(PocketClapConfig(channels=tuple(cfg.channels)), text_encoder).to(self.device)
        self._text_cache: dict[str, torch.Tensor] = {}  # the text encoder is frozen: each caption once
        trained = [p for n, p in self.model.named_parameters()]
        decay = [p for p in trained if p.dim() >= 2]
        keep = [p for p in trained if p.dim() < 2]
        self.optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                            {"params": keep, "weight_decay": 0.0}], lr=cfg.lr)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: warmup_cosine(s, cfg.warmup, cfg.steps))
        self.step = 0
        self.history: list[dict] = []
        self._val_audio: dict[str, torch.Tensor] | None = None
        self._resume()

    # Data.

    def batch(self, rng: random.Random, instruments: dict[str, list[Note]], names: list[str]):
        chosen = rng.sample(names, min(self.cfg.batch_size, len(names)))
        notes = [rng.choice(instruments[name]) for name in chosen]
        captions = [rng.choice(caption_forms(n)) for n in notes]
        return notes, captions

    def audio_of(self, notes: list[Note]) -> torch.Tensor:
        rate = self.model.cfg.sample_rate
        length = int(self.model.cfg.max_seconds * rate)
        batch = np.zeros((len(notes), length), dtype=np.float32)
        for i, note in enumerate(notes):
            audio = read_audio(note, rate)[:length]
            batch[i, :len(audio)] = audio
        return torch.from_numpy(batch).to(self.device)

    def text_of(self, captions: list[str]) -> torch.Tensor:
        missing = [c for c in dict.fromkeys(captions) if c not in self._text_cache]
        if missing:
            for c, row in zip(missing, self.model.text_encoder(missing).float().cpu()):
                self._text_cache[c] = row
        frozen = torch.stack([self._text_cache[c] for c in captions]).to(self.device)
        return F.normalize(self.model.text_projection(frozen), dim=-1)

    def loss_of(self, notes: list[Note], captions: list[str]) -> torch.Tensor:
        audio = self.model.audio_embedding(self.audio_of(notes), self.model.cfg.sample_rate)
        text = self.text_of(captions)
        return contrastive_loss(audio, text, matches(captions, notes).to(self.device), self.model.logit_scale)

    # Steps.

    def train_step(self) -> dict:
        cfg = self.cfg
        rng = random.Random(f"{cfg.seed}-{self.step}")
        torch.manual_seed(rng.getrandbits(62))
        self.model.train()
        notes, captions = self.batch(rng, self.train_set, self.instruments)
        loss = self.loss_of(notes, captions)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip)
        self.optimizer.step()
        self.schedule.step()
        self.step += 1
        return {"loss": float(loss.detach()), "grad_norm": float(norm), "lr": self.schedule.get_last_lr()[0],
                "notes": len(notes)}

    def _validation_notes(self) -> dict[str, list[Note]]:
        """Up to val_notes_per_instrument notes per valid instrument, spread evenly over its pitches."""
        k = self.cfg.val_notes_per_instrument
        picked = {}
        for name, notes in self.val_set.items():
            ordered = sorted(notes, key=lambda n: (n.pitch, n.velocity))
            idx = np.linspace(0, len(ordered) - 1, min(k, len(ordered))).round().astype(int)
            picked[name] = [ordered[i] for i in dict.fromkeys(idx.tolist())]
        return picked

    @torch.no_grad()
    def validate(self) -> dict:
        if len(self.val_set) < 2:
            return {}
        self.model.eval()
        names = sorted(self.val_set)
        losses = []
        for b in range(self.cfg.val_batches):
            notes, captions = self.batch(random.Random(f"{self.cfg.seed}-valid-{b}"), self.val_set, names)
            losses.append(float(self.loss_of(notes, captions)))
        picked = self._validation_notes()
        rate = self.model.cfg.sample_rate
        embeddings, families = [], []
        means = []
        for name in names:
            e = self.model.audio_embedding(self.audio_of(picked[name]), rate)
            embeddings.append(e)
            families += [n.instrument_family_str for n in picked[name]]
            means.append(F.normalize(e.mean(0), dim=0))
        texts = self.text_of([caption(self.val_set[name][0]) for name in names])
        scores = texts @ torch.stack(means).T  # [caption, instrument]
        own = scores.diagonal()
        ranks = 1 + (scores > own[:, None]).sum(1).float()
        family_names = sorted(set(families))
        family_text = self.text_of([FAMILY_WORDS.get(f, f) for f in family_names])
        guessed = (torch.cat(embeddings) @ family_text.T).argmax(1)
        right = [family_names[g] == f for g, f in zip(guessed.tolist(), families)]
        return {"logit_scale": float(self.model.logit_scale.detach().exp()),
                "val_loss": sum(losses) / len(losses), "val_mean_rank": float(ranks.mean()),
                "val_recall_at_1": float((ranks == 1).float().mean()), "val_instruments": len(names),
                "val_chance_rank": (len(names) + 1) / 2, "val_family_accuracy": sum(right) / len(right),
                "val_family_chance": 1 / len(family_names)}

    # Checkpoints.

    @property
    def checkpoint(self) -> Path:
        return self.out / "checkpoint"

    def save(self) -> None:
        extra = {"step": self.step, "train": jsonable(self.cfg), "data": str(self.data.resolve())}
        save_checkpoint(self.out, lambda folder: self.model.save(folder, extra=extra), self.step, self.optimizer,
                        self.schedule, self.history)

    def _resume(self) -> None:
        if not has_checkpoint(self.out):
            return
        saved = PocketClap.load(self.checkpoint, text_encoder=self.model.text_encoder)
        if saved.cfg != self.model.cfg:
            raise ModelError(f"{self.checkpoint} holds a CLAP of another shape ({saved.cfg}); give another --out")
        self.model.load_state_dict(saved.state_dict())
        self.step, self.history = load_trainer_state(self.out, self.optimizer, self.schedule)
        self.log(f"resumed {self.checkpoint} at step {self.step}")

    # The run.

    def run(self, progress: bool = True, until: int | None = None) -> list[dict]:
        """Train to ``cfg.steps`` (or stop at step ``until``; a later run goes on from the last checkpoint)."""
        return run_steps(self, "notes", progress=progress, until=until)


def train(data: str | Path, out: str | Path, cfg: ClapTrainConfig, device: str = "auto", progress: bool = True,
          text_encoder=None, log=print) -> list[dict]:
    """The ``train clap`` command: the trained model is ``out/checkpoint`` (``model.clap_path``)."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    trainer = ClapTrainer(cfg, data, out, device=device, text_encoder=text_encoder, log=log)
    params = sum(p.numel() for p in trainer.model.parameters())
    log(f"training a pocket CLAP ({params:,} parameters besides MiniLM) on {len(trainer.train_set)} instruments "
        f"({sum(map(len, trainer.train_set.values()))} notes; {len(trainer.val_set)} for validation) on {device}, "
        f"into {out}")
    return trainer.run(progress=progress)
