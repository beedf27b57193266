"""Training the codec language model on prepared features (``livesampler train lm``).

The CLAP embedding a note is conditioned on follows one of the paper's three schemes:

- ``baseline``: the note's own embedding;
- ``random``: the embedding of another note of the same instrument, drawn anew each time;
- ``fixed``: one reference note per instrument, the same for all its notes: the note
  nearest middle C (pitch 60), then nearest velocity 100, then the lower pitch. At
  generation time one embedding conditions every key, which is what this scheme trains.

Condition dropout, with probability p each: a whole example loses every condition
(the null input classifier-free guidance subtracts), and, independently, each of its
conditions on its own (so that the model also learns to do without family and source,
which a text or audio prompt does not give).

With a reference encoder (``--reference``), each note also gets a reference note of
its instrument: half the time the fixed one (what a text prompt's first note becomes),
half the time another note drawn at random (what an audio prompt at any pitch gives);
it is dropped with its own probability, so the model also makes a first note without one.

With ``text_share`` > 0, that share of the notes is conditioned on the CLAP text
embedding of a caption of its instrument instead of an audio embedding, so that the
model learns from the words performers type as well as from sounds.

Validation also measures the condition gain: how much the loss rises when one
condition is wrong or missing, over whole notes and over their first 0.25 s (where
nothing but the conditions can say what the note is). A model that ignores its
conditions shows gains near zero.

Exact resumption: every random draw of a step is seeded from (seed, step, rank) and the
data order from (seed, epoch), so a checkpoint needs only the weights, the optimiser,
the schedule and the step to go on exactly as if never stopped.

Several processes: run the same command under ``torchrun``; each takes its share of
every batch and DistributedDataParallel averages the gradients (gloo on CPU, nccl on GPU).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from livesampler.data.features import Features
from livesampler.data.nsynth import reference_order
from livesampler.model import ModelError
from livesampler.model.checkpoint import load_lm, save_lm
from livesampler.model.conditions import ConditionDropout, Conditions
from livesampler.model.lm import LanguageModel, preset
from livesampler.train.loop import run_steps
from livesampler.train.state import has_checkpoint, jsonable, load_trainer_state, save_checkpoint, warmup_cosine

SCHEMES = ("baseline", "random", "fixed")


@dataclass(frozen=True)
class TrainConfig:
    preset: str = "pocket"
    clap_scheme: str = "baseline"
    objective: str = "autoregressive"  # or "masked" (for the MAGNeT sampler)
    steps: int = 20000
    batch_size: int = 16  # notes per step, over all processes
    lr: float = 3e-4
    warmup: int = 500  # steps of linear warm-up, then cosine decay to lr / 10
    weight_decay: float = 0.05
    clip: float = 1.0  # gradient norm
    condition_dropout: float = 0.3
    condition_sum: bool = False  # conditions summed into every input step too
    reference: bool = False  # a reference encoder reads a reference note of the instrument
    reference_dropout: float = 0.3  # share of notes trained without their reference
    text_share: float = 0.0  # share of notes conditioned on a caption's text embedding
    reference_sum: bool = False  # the reference also summed, frame by frame, into the inputs
    init_from: str = ""  # an LM checkpoint whose matching weights start the run (fine-tuning)
    eval_every: int = 500  # validation, checkpoint and sample notes
    val_notes: int = 256  # validation notes per evaluation (the first ones of the split)
    sample_pitches: tuple[int, ...] = (36, 48, 60, 72, 84)
    seed: int = 0

    def __post_init__(self):
        if self.clap_scheme not in SCHEMES:
            raise ModelError(f"clap scheme must be one of {', '.join(SCHEMES)}, got {self.clap_scheme!r}")
        if self.steps < 1 or self.batch_size < 1 or self.eval_every < 1 or not 0 <= self.condition_dropout < 1 \
                or not 0 <= self.reference_dropout <= 1 or not 0 <= self.text_share <= 1:
            raise ModelError(f"training settings out of range: {self}")


def reference_rows(features: Features) -> dict[str, int]:
    """Each instrument's reference note for the ``fixed`` scheme (see the module's text)."""
    best: dict[str, tuple] = {}
    for i, n in enumerate(features.notes):
        if not features.done[i]:
            continue
        rank = (*reference_order(n.pitch, n.velocity), i)
        if n.instrument not in best or rank < best[n.instrument]:
            best[n.instrument] = rank
    return {name: rank[-1] for name, rank in best.items()}


class ClapScheme:
    """Which row's CLAP embedding conditions each training note."""

    def __init__(self, features: Features, scheme: str):
        self.scheme = scheme
        self.reference = reference_rows(features)
        self.instrument = [n.instrument for n in features.notes]
        siblings: dict[str, list[int]] = {}
        for i, n in enumerate(features.notes):
            if features.done[i]:
                siblings.setdefault(n.instrument, []).append(i)
        self.siblings = {k: np.array(v) for k, v in siblings.items()}

    def rows(self, rows: np.ndarray, rng: np.random.Generator, scheme: str | None = None) -> np.ndarray:
        scheme = scheme or self.scheme
        if scheme == "baseline":
            return rows
        if scheme == "fixed":
            return np.array([self.reference[self.instrument[r]] for r in rows])
        chosen = []
        for r in rows:
            others = self.siblings[self.instrument[r]]
            others = others[others != r] if len(others) > 1 else others
            chosen.append(int(others[rng.integers(len(others))]))
        return np.array(chosen)

    def reference_rows(self, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The reference note of each row: the fixed one or a random sibling, half and half."""
        fixed, other = self.rows(rows, rng, "fixed"), self.rows(rows, rng, "random")
        return np.where(rng.random(len(rows)) < 0.5, fixed, other)

    def other_instrument(self, rows: np.ndarray) -> np.ndarray:
        """For each row, the fixed reference row of another instrument (the next one in name order)."""
        names = sorted(self.reference)
        following = {a: names[(i + 1) % len(names)] for i, a in enumerate(names)}
        return np.array([self.reference[following[self.instrument[r]]] for r in rows])


def conditions_of(features: Features, rows: np.ndarray, clap_rows: np.ndarray,
                  reference_rows: np.ndarray | None = None, clap: np.ndarray | None = None) -> Conditions:
    """Conditions of ``rows``: CLAP from ``clap_rows`` (or the embeddings ``clap`` [B, 512]), and the
    codes of ``reference_rows`` as reference notes."""
    notes = [features.notes[r] for r in rows]
    reference = reference_pitch = None
    if reference_rows is not None:
        reference = torch.from_numpy(_rows_of(features.codes, reference_rows).astype(np.int64))
        reference_pitch = [features.notes[r].pitch for r in reference_rows]
    if clap is None:
        clap = _rows_of(features.clap, clap_rows)
    return Conditions.make([n.pitch for n in notes], [n.velocity for n in notes], [n.family for n in notes],
                           [n.source for n in notes], clap=torch.from_numpy(np.asarray(clap, dtype=np.float32)),
                           reference=reference, reference_pitch=reference_pitch)


def _rows_of(array: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """array[rows] for a memory map, read in row order (fastest) and put back in the order asked."""
    rows = np.asarray(rows)
    unique, inverse = np.unique(rows, return_inverse=True)
    return np.asarray(array[unique])[inverse]


def condition_gain_variants(trainer: LMTrainer, rows: np.ndarray, conditions: Conditions) -> dict[str, Conditions]:
    """The validation batch's conditions with one condition wrong or missing at a time."""
    c = conditions
    other = trainer.scheme.other_instrument(rows)
    variants = {
        "clap_other": c.replace(clap=torch.from_numpy(_rows_of(trainer.features.clap, other).astype(np.float32))),
        "clap_null": c.replace(has_clap=torch.zeros_like(c.has_clap)),
        "pitch_off": c.replace(pitch=torch.where(c.pitch + 7 < 88, c.pitch + 7, c.pitch - 7)),
        "velocity_off": c.replace(velocity=torch.where(c.velocity >= 0, 4 - c.velocity, c.velocity)),
        "all_null": c.null(),
    }
    if trainer.lm.reference is not None:
        variants["reference_other"] = c.replace(
            reference=torch.from_numpy(_rows_of(trainer.features.codes, other).astype(np.int64)),
            reference_pitch=torch.tensor([trainer.features.notes[r].pitch - 21 for r in other]))
        variants["reference_null"] = c.replace(has_reference=torch.zeros_like(c.has_reference))
    return variants


class LossOf(torch.nn.Module):
    """The language model's training loss as a forward pass, so that DistributedDataParallel can wrap it."""

    def __init__(self, lm: LanguageModel):
        super().__init__()
        self.lm = lm

    def forward(self, codes: torch.Tensor, conditions: Conditions, generator: torch.Generator):
        return self.lm.loss(codes, conditions, generator)


class LMTrainer:
    def __init__(self, cfg: TrainConfig, features: Features, out: str | Path, device: str = "cpu",
                 codec=None, log=print, text_clap: dict[str, np.ndarray] | None = None):
        self.cfg, self.features, self.out = cfg, features, Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.device = torch.device(device)
        self.codec = codec  # decodes the sample notes written at each checkpoint; None writes none
        self.log = log
        self.rank = dist.get_rank() if dist.is_initialized() else 0
        self.world = dist.get_world_size() if dist.is_initialized() else 1
        if cfg.batch_size % self.world:
            raise ModelError(f"batch size {cfg.batch_size} does not divide among {self.world} processes")
        self.train_rows = features.rows("train")
        self.val_rows = features.rows("valid")[: cfg.val_notes]
        if len(self.train_rows) == 0:
            raise ModelError(f"{features.folder} has no prepared notes in its train split")
        self.scheme = ClapScheme(features, cfg.clap_scheme)
        if cfg.text_share > 0 and not text_clap:
            raise ModelError("text_share > 0 needs the captions' text embeddings (a CLAP model to make them)")
        self.text_clap = text_clap or {}
        codebook_size = int(features.codebook_size)
        torch.manual_seed(cfg.seed)  # the same first weights in every process and every run
        self.lm = LanguageModel(preset(cfg.preset, num_codebooks=features.num_codebooks,
                                       codebook_size=codebook_size, objective=cfg.objective,
                                       condition_sum=cfg.condition_sum,
                                       reference_frames=features.frames if cfg.reference else 0,
                                       reference_sum=cfg.reference_sum)).to(self.device)
        if cfg.init_from and not has_checkpoint(self.out):
            self._init_from(Path(cfg.init_from))
        self.loss = LossOf(self.lm)
        if self.world > 1:
            self.loss = torch.nn.parallel.DistributedDataParallel(self.loss)
        decay = [p for n, p in self.lm.named_parameters() if p.dim() >= 2]
        keep = [p for n, p in self.lm.named_parameters() if p.dim() < 2]
        self.optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                            {"params": keep, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.95))
        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: warmup_cosine(s, cfg.warmup, cfg.steps))
        self.step = 0
        self.history: list[dict] = []
        self._resume()

    def _init_from(self, path: Path) -> None:
        """Start from another checkpoint's weights where names and shapes match; the rest keep their init."""
        start, _ = load_lm(path, codec_id=self.features.codec_id, clap_id=self.features.clap_id)
        own = self.lm.state_dict()
        taken = {k: v for k, v in start.state_dict().items() if k in own and own[k].shape == v.shape}
        own.update(taken)
        self.lm.load_state_dict(own)
        self.log(f"started from {path}: {len(taken)} of {len(own)} tensors")

    # Data.

    def batch_rows(self, step: int) -> np.ndarray:
        """This process's rows of global batch ``step``: epochs are permutations seeded by (seed, epoch)."""
        n, B = len(self.train_rows), self.cfg.batch_size
        positions = np.arange(step * B, (step + 1) * B)
        rows = np.empty(B, dtype=np.int64)
        for epoch in np.unique(positions // n):
            order = np.random.default_rng([self.cfg.seed, int(epoch)]).permutation(n)
            here = positions // n == epoch
            rows[here] = self.train_rows[order[positions[here] % n]]
        return rows[self.rank::self.world]

    def _batch(self, rows: np.ndarray, rng: np.random.Generator,
               text: bool = True) -> tuple[torch.Tensor, Conditions]:
        codes = torch.from_numpy(_rows_of(self.features.codes, rows).astype(np.int64))
        clap_rows = self.scheme.rows(rows, rng)
        clap = None
        if text and self.cfg.text_share > 0:
            clap = _rows_of(self.features.clap, clap_rows).astype(np.float32)
            for i, r in enumerate(rows):
                if rng.random() < self.cfg.text_share:
                    forms = self.text_clap[self.features.notes[r].instrument]
                    clap[i] = forms[rng.integers(len(forms))]
        reference = self.scheme.reference_rows(rows, rng) if self.lm.reference is not None else None
        conditions = conditions_of(self.features, rows, clap_rows, reference, clap)
        return codes.to(self.device), conditions.to(self.device)

    # Steps.

    def _dropout(self, c: Conditions, generator: torch.Generator) -> Conditions:
        p = self.cfg.condition_dropout
        if p == 0:
            return c
        joint = (torch.rand(c.batch_size, generator=generator) < p).to(c.pitch.device)
        c = ConditionDropout(p, seed=int(torch.randint(2**31, (1,), generator=generator))).train()(c)
        if self.lm.reference is not None:  # the reference has its own dropout
            keep = torch.rand(c.batch_size, generator=generator) >= self.cfg.reference_dropout
            c = c.replace(has_reference=c.has_reference & keep.to(c.pitch.device))
        null = c.null()
        return Conditions(*(torch.where(joint.view(-1, *([1] * (a.dim() - 1))), b, a)
                            for a, b in zip(c._fields(), null._fields())))

    def train_step(self) -> dict:
        cfg, step = self.cfg, self.step
        seed = [cfg.seed, step, self.rank]
        torch.manual_seed(int(np.random.default_rng(seed).integers(2**62)))  # the model's own dropout
        generator = torch.Generator().manual_seed(int(np.random.default_rng(seed + [1]).integers(2**62)))
        rng = np.random.default_rng(seed + [2])
        self.lm.train()
        codes, conditions = self._batch(self.batch_rows(step), rng)
        conditions = self._dropout(conditions, generator)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            loss, per_codebook = self.loss(codes, conditions, generator)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.lm.parameters(), cfg.clip)
        self.optimizer.step()
        self.schedule.step()
        self.step += 1
        return {"loss": float(loss.detach()), "grad_norm": float(norm), "lr": self.schedule.get_last_lr()[0],
                "tokens": codes.numel() * self.world}

    @torch.no_grad()
    def validate(self) -> dict:
        """Mean cross-entropy per codebook over the validation notes (every process computes all of it),
        and, for the autoregressive objective, the condition gain (see the module's text)."""
        if len(self.val_rows) == 0:
            return {}
        self.lm.eval()
        rng = np.random.default_rng([self.cfg.seed, 0, 0, 3])
        total = torch.zeros(self.lm.cfg.num_codebooks)
        count = 0
        onset = max(1, round(0.25 * self.features.frames / 4.0))  # frames in the first 0.25 s of a 4 s note
        sums: dict[str, list[float]] = {}
        for first in range(0, len(self.val_rows), self.cfg.batch_size):
            rows = self.val_rows[first:first + self.cfg.batch_size]
            codes, conditions = self._batch(rows, rng, text=False)
            generator = torch.Generator().manual_seed(self.cfg.seed)
            _, per_codebook = self.lm.loss(codes, conditions, generator)
            total += per_codebook.float().cpu() * len(rows)
            count += len(rows)
            if self.lm.causal:
                cases = {"right": conditions, **condition_gain_variants(self, rows, conditions.to("cpu"))}
                for name, c in cases.items():
                    cells = self.lm.frame_losses(codes, c.to(self.device)).float().cpu()  # [B, K, T]
                    acc = sums.setdefault(name, [0.0, 0.0])
                    acc[0] += float(cells.mean()) * len(rows)
                    acc[1] += float(cells[:, :, :onset].mean()) * len(rows)
        per = (total / count).tolist()
        out = {"val_loss": sum(per) / len(per), "val_per_codebook": per}
        if sums:
            right = sums.pop("right")
            out["condition_gain"] = {name: round((v[0] - right[0]) / count, 4) for name, v in sums.items()}
            out["condition_gain_onset"] = {name: round((v[1] - right[1]) / count, 4) for name, v in sums.items()}
            out["val_loss_onset"] = right[1] / count
        return out

    # Checkpoints.

    @property
    def checkpoint(self) -> Path:
        return self.out / "checkpoint"

    def save(self) -> None:
        if self.rank != 0:
            return
        f = self.features
        extra = {"step": self.step, "train": jsonable(self.cfg), "data": str(f.folder)}
        save_checkpoint(self.out, lambda folder: save_lm(folder, self.lm, f.codec_id, f.clap_id, extra=extra),
                        self.step, self.optimizer, self.schedule, self.history)

    def _resume(self) -> None:
        if not has_checkpoint(self.out):
            return
        lm, saved = load_lm(self.checkpoint, codec_id=self.features.codec_id, clap_id=self.features.clap_id)
        if lm.cfg != self.lm.cfg:
            raise ModelError(f"{self.checkpoint} holds a model of another shape ({lm.cfg}); give another --out")
        self.lm.load_state_dict(lm.state_dict())
        self.step, self.history = load_trainer_state(self.out, self.optimizer, self.schedule)
        self.log(f"resumed {self.checkpoint} at step {self.step}")

    def write_samples(self) -> list[Path]:
        """A few notes of a validation instrument (or a training one), decoded, for listening."""
        if self.rank != 0 or self.codec is None:
            return []
        import soundfile

        from livesampler.model.sampling import SamplerSettings, generate

        rows = self.val_rows if len(self.val_rows) else self.train_rows
        instrument = self.features.notes[int(rows[0])].instrument
        clap = torch.from_numpy(self.features.clap[self.scheme.reference[instrument]].astype(np.float32))
        pitches = list(self.cfg.sample_pitches)
        reference = None
        if self.lm.reference is not None:
            row = self.scheme.reference[instrument]
            reference = dict(reference=torch.from_numpy(np.asarray(self.features.codes[row]).astype(np.int64)),
                             reference_pitch=self.features.notes[row].pitch)
        conditions = Conditions.make(pitches, [100] * len(pitches), clap=clap, **(reference or {}))
        settings = SamplerSettings(name="autoregressive" if self.cfg.objective == "autoregressive" else "magnet",
                                   top_k=250, guidance_scale=3.0, seed=self.cfg.seed)
        self.lm.eval()
        codes = generate(self.lm, conditions, self.features.frames, settings)
        audio = self.codec.decode(codes.to(self.codec.device), pitch=torch.tensor(pitches))
        folder = self.out / "samples" / f"step_{self.step:07d}"
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for pitch, note in zip(pitches, audio):
            path = folder / f"{instrument}_{pitch:03d}_100.wav"
            soundfile.write(path, note.float().cpu().numpy(), self.codec.sample_rate)
            written.append(path)
        return written

    # The run.

    def run(self, progress: bool = True, until: int | None = None) -> list[dict]:
        """Train to ``cfg.steps`` (or stop at step ``until``; a later run goes on from the last checkpoint)."""
        return run_steps(self, "tokens", progress=progress, until=until, writer=self.rank == 0,
                         after_save=self.write_samples)


def caption_embeddings(features: Features, clap) -> dict[str, np.ndarray]:
    """Each instrument's caption phrasings (``instrument_caption_forms``) as CLAP text embeddings [n, 512]."""
    from livesampler.data.captions import instrument_caption_forms
    from livesampler.model.conditions import FAMILIES, SOURCES

    if clap.id != features.clap_id:
        raise ModelError(f"the CLAP given is {clap.id}, the features were made with {features.clap_id}: "
                         "give the CLAP they were made with")
    first = {}
    for n in features.notes:
        first.setdefault(n.instrument, n)
    out = {}
    for name, n in first.items():
        family = FAMILIES[n.family] if n.family >= 0 else "instrument"
        source = SOURCES[n.source] if n.source >= 0 else ""
        forms = instrument_caption_forms(name, family, source)
        with torch.no_grad():
            out[name] = clap.embed_text(forms).float().cpu().numpy()
    return out


def train(data: str | Path, out: str | Path, cfg: TrainConfig, device: str = "auto", codec=None,
          progress: bool = True, log=print, text_clap: dict[str, np.ndarray] | None = None) -> list[dict]:
    """The ``train lm`` command. Under torchrun (WORLD_SIZE > 1) every process runs this; rank 0 writes.

    ``codec``: the features' codec, to decode the sample notes written at each checkpoint (None: no samples).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
        if device == "cuda":
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
            torch.cuda.set_device(device)
    try:
        features = Features(data)
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        if codec is not None and codec.id != features.codec_id:
            log(f"no sample notes: the codec given is {codec.id}, the features were made with {features.codec_id}")
            codec = None
        if cfg.text_share > 0 and text_clap is None:
            raise ModelError("text_share > 0 needs a CLAP to embed the captions")
        if callable(text_clap):  # a CLAP loader: embed the captions here, where the features are open
            text_clap = caption_embeddings(features, text_clap())
        trainer = LMTrainer(cfg, features, out, device=device, codec=codec, log=log, text_clap=text_clap)
        if trainer.rank == 0:
            log(f"training a {cfg.preset} LM ({trainer.lm.num_parameters():,} parameters) on {len(trainer.train_rows)} "
                f"notes ({len(trainer.val_rows)} for validation), CLAP scheme {cfg.clap_scheme}, {trainer.world} "
                f"process(es) on {device}, into {out}")
        return trainer.run(progress=progress)
    finally:
        if world > 1 and dist.is_initialized():
            dist.barrier()  # rank 0 may still be writing; leaving before it hangs gloo's teardown
            dist.destroy_process_group()

