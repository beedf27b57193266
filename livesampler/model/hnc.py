"""The pocket codec: harmonic-plus-noise analysis at the note's known pitch, residual k-means codes.

A small DAC does not train to playable quality on a 2-core CPU (FACTS.md); a
pitched note is, to a first approximation, harmonics at multiples of the pitch
it was asked for plus shaped noise, and the generator always knows that pitch.
So this codec spends its bits on what the pitch does not say:

- analysis (16 kHz, hop 320 = 50 frames/s, frame t centred on sample t * hop):
  a Hann-windowed spectrum per frame, its length chosen per note so that
  neighbouring harmonics are resolved; the amplitude of each harmonic below
  ``max_freq`` (at most ``harmonics``), from the power around its peak; and the
  noise power density in ``noise_bands`` mel-spaced bands, from the bins
  between harmonics;
- a pitch-independent layout: the log harmonic amplitudes are a spectral
  envelope, resampled onto ``envelope_points`` fixed mel-spaced frequencies, so
  the same codebooks serve every pitch; a frame is [envelope | log noise], D values;
- residual vector quantisation: ``num_codebooks`` k-means codebooks of
  ``codebook_size`` over the normalised frames, each fitted to what the ones
  before it left (``fit_hnc``);
- synthesis: harmonics at the asked pitch, phase-continuous, amplitudes
  interpolated linearly between frames; plus white noise shaped per frame by
  the band densities (STFT filtering).

Encoding needs the pitch too; without it, a harmonic-sum estimate is used.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch

from livesampler.model.checkpoint import CheckpointError, read_model_folder, write_model_folder
from livesampler.model.codec import Codec, CodecError

HNC_FORMAT, HNC_VERSION = "livesampler-hnc", 1
_AMP_FLOOR = 1e-5  # -100 dB re full scale: harmonic amplitudes below it are silence
_PSD_FLOOR = 1e-11  # noise power density floor (white noise at -110 dB)
_ATTACK_SECONDS = 0.1  # decoded frames this early in a note are never smoothed
_HANN_MAIN_LOBE = 1.5  # power of a Hann-windowed sine in its peak bin and the two beside it, over the peak's


@dataclass(frozen=True)
class HncConfig:
    sample_rate: int = 16000
    hop: int = 320  # samples per frame: 50 frames/s at 16 kHz
    harmonics: int = 64  # at most this many harmonics are analysed and synthesised
    max_freq: float = 7600.0  # Hz; no harmonic above it (the rest of the band is noise)
    envelope_points: int = 64  # fixed mel-spaced frequencies the harmonic envelope is sampled on
    noise_bands: int = 20  # mel-spaced bands of the noise
    min_window: int = 512  # analysis window bounds, samples; between them, 4.5 periods of the pitch
    max_window: int = 2048
    num_codebooks: int = 4
    codebook_size: int = 256
    kmeans_iters: int = 20
    seed: int = 0  # of the k-means initialisation
    # Decode only: a running median over this many frames (odd; 1 = none) of the decoded features after
    # the attack. It keeps steps and monotone rises and decays exactly and removes what lasts one or two
    # frames: the isolated jumps of sampled codes. Not part of the codec's id, since the codes mean the same.
    smooth_frames: int = 1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> HncConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise CodecError(f"unknown harmonic-plus-noise codec settings {unknown}")
        cfg = cls(**d)
        if not isinstance(cfg.smooth_frames, int) or cfg.smooth_frames < 1 or cfg.smooth_frames % 2 == 0:
            raise CodecError(f"smooth_frames must be an odd number of frames >= 1, got {cfg.smooth_frames!r}")
        return cfg

    @property
    def feature_size(self) -> int:
        return self.envelope_points + self.noise_bands


def midi_to_hz(pitch) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(pitch, dtype=np.float64) - 69.0) / 12.0)


def _mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def _mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def _interp_matrix(x_from: np.ndarray, x_to: np.ndarray) -> np.ndarray:
    """[len(x_from), len(x_to)]: values at x_from @ it = linear interpolation at x_to (ends held)."""
    eye = np.eye(len(x_from))
    return np.stack([np.interp(x_to, x_from, row) for row in eye]) if len(x_from) else np.zeros((0, len(x_to)))


class HarmonicNoiseCodec(Codec):
    """Codes [B, K, T] in [0, codebook_size) <-> notes at a known pitch. See the module docstring."""

    def __init__(self, cfg: HncConfig, codebooks: torch.Tensor, mean: torch.Tensor, std: torch.Tensor):
        K, C, D = codebooks.shape
        if (K, C, D) != (cfg.num_codebooks, cfg.codebook_size, cfg.feature_size) or mean.shape != (D,) \
                or std.shape != (D,):
            raise CodecError(f"harmonic-plus-noise codec: codebooks {tuple(codebooks.shape)}, mean "
                             f"{tuple(mean.shape)}, std {tuple(std.shape)} do not fit its settings "
                             f"({cfg.num_codebooks} x {cfg.codebook_size} of {cfg.feature_size} values)")
        self.cfg = cfg
        self.codebooks = codebooks.float().contiguous()  # [K, C, D]
        self.mean, self.std = mean.float(), std.float()  # [D]
        self.id = f"hnc-{self._digest()}"
        nyquist = cfg.sample_rate / 2
        self._grid_hz = _mel_to_hz(np.linspace(_mel(20.0), _mel(nyquist), cfg.envelope_points))
        edges = _mel_to_hz(np.linspace(_mel(0.0), _mel(nyquist), cfg.noise_bands + 1))
        self._band_edges = edges
        self._band_centres = 0.5 * (edges[:-1] + edges[1:])
        self._phases = np.random.default_rng(1234).uniform(0, 2 * np.pi, cfg.harmonics)  # fixed: decode is repeatable

    # ---- the Codec interface -------------------------------------------------------------------

    @property
    def sample_rate(self) -> int:
        return self.cfg.sample_rate

    @property
    def num_codebooks(self) -> int:
        return self.cfg.num_codebooks

    @property
    def codebook_size(self) -> int:
        return self.cfg.codebook_size

    @property
    def frame_rate(self) -> float:
        return self.cfg.sample_rate / self.cfg.hop

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")  # analysis and synthesis are numpy

    def encode(self, audio: torch.Tensor, pitch: torch.Tensor | None = None) -> torch.Tensor:
        """audio [B, N] at 16 kHz, pitch [B] MIDI (estimated when None) -> codes [B, K, T], T = ceil(N / hop)."""
        features = self.analyse(audio, pitch)  # [B, T, D]
        return self.quantise(features)

    def decode(self, codes: torch.Tensor, pitch: torch.Tensor | None = None,
               generator: np.random.Generator | None = None) -> torch.Tensor:
        """codes [B, K, T] (K <= num_codebooks), pitch [B] MIDI -> audio [B, T * hop] float32.

        ``generator`` draws the noise; by default one seeded with 0, so a decode is repeatable."""
        if pitch is None:
            raise CodecError("the harmonic-plus-noise codec decodes at the note's pitch: pass pitch [B] (MIDI)")
        return self.synthesise(self.dequantise(codes), pitch, generator)

    # ---- features ------------------------------------------------------------------------------

    def analyse(self, audio: torch.Tensor | np.ndarray, pitch=None) -> torch.Tensor:
        """audio [B, N] -> unquantised frames [B, T, D] (log envelope | log noise density)."""
        x = np.asarray(torch.as_tensor(audio).detach().cpu().float().numpy(), dtype=np.float64)
        if x.ndim != 2:
            raise CodecError(f"expected audio [B, N], got shape {tuple(x.shape)}")
        pitches = [None] * len(x) if pitch is None else [float(p) for p in torch.as_tensor(pitch).flatten()]
        if len(pitches) != len(x):
            raise CodecError(f"{len(x)} notes but {len(pitches)} pitches")
        rows = [self._analyse_one(a, estimate_pitch(a, self.sample_rate) if p is None else p)
                for a, p in zip(x, pitches)]
        return torch.from_numpy(np.stack(rows)).float()

    def quantise(self, features: torch.Tensor) -> torch.Tensor:
        """[B, T, D] -> codes [B, K, T] (int64), residual nearest-codeword search."""
        B, T, D = features.shape
        r = ((features.float() - self.mean) / self.std).reshape(B * T, D)
        codes = []
        for book in self.codebooks:  # [C, D]
            idx = _nearest(r, book)
            r = r - book[idx]
            codes.append(idx)
        return torch.stack(codes, 0).reshape(-1, B, T).permute(1, 0, 2).contiguous()

    def dequantise(self, codes: torch.Tensor) -> torch.Tensor:
        """codes [B, K, T] -> frames [B, T, D]."""
        codes = torch.as_tensor(codes).long().cpu()
        B, K, T = codes.shape
        if K > self.num_codebooks:
            raise CodecError(f"the codec has {self.num_codebooks} codebooks, the codes have {K}")
        if codes.numel() and (codes.min() < 0 or codes.max() >= self.codebook_size):
            raise CodecError(f"codes must lie in [0, {self.codebook_size}), got {int(codes.min())}..{int(codes.max())}")
        z = torch.zeros(B, T, self.codebooks.shape[2])
        for k in range(K):
            z += self.codebooks[k][codes[:, k]]
        return z * self.std + self.mean

    def _window_length(self, f0: float) -> int:
        want = 4.5 * self.sample_rate / f0
        n = 2 ** math.ceil(math.log2(max(want, 2)))
        return int(min(self.cfg.max_window, max(self.cfg.min_window, n)))

    def _analyse_one(self, x: np.ndarray, pitch: float) -> np.ndarray:
        cfg, sr, hop = self.cfg, self.sample_rate, self.cfg.hop
        f0 = float(midi_to_hz(pitch))
        n_fft = self._window_length(f0)
        T = max(1, math.ceil(len(x) / hop))
        padded = np.zeros(T * hop + n_fft)
        padded[n_fft // 2:n_fft // 2 + len(x)] = x  # silence before and after, so frame t centres on t * hop
        frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:T]  # [T, n_fft]
        w = np.hanning(n_fft + 1)[:-1]
        P = np.abs(np.fft.rfft(frames * w, axis=1)) ** 2  # [T, F]
        F = P.shape[1]
        bin_hz = sr / n_fft
        f0 = _refine_f0(P.mean(axis=0), f0, bin_hz, min(cfg.harmonics, int(cfg.max_freq // f0)))
        H = min(cfg.harmonics, int(cfg.max_freq // f0))

        keep = np.ones_like(P, dtype=bool)
        if H > 0:
            centre = np.arange(1, H + 1) * f0 / bin_hz  # [H] fractional bins
            reach = max(1, int(0.3 * f0 / bin_hz))
            offsets = np.arange(-reach, reach + 1)
            idx = np.clip(np.rint(centre)[:, None].astype(int) + offsets, 1, F - 2)  # [H, W]
            peak = idx[np.arange(H)[None, :], np.argmax(P[:, idx], axis=2)]  # [T, H]
            t = np.arange(T)[:, None]
            power = P[t, peak - 1] + P[t, peak] + P[t, peak + 1]  # [T, H]
            amp = np.sqrt(power / _HANN_MAIN_LOBE) * 2.0 / w.sum()
            for d in (-2, -1, 0, 1, 2):  # the harmonic's main lobe is not noise
                keep[t, np.clip(peak + d, 0, F - 1)] = False
            log_amp = np.log(np.maximum(amp, _AMP_FLOOR))
            envelope = log_amp @ _interp_matrix(_mel(np.arange(1, H + 1) * f0), _mel(self._grid_hz))  # [T, G]
        else:
            envelope = np.full((T, cfg.envelope_points), math.log(_AMP_FLOOR))

        # Noise: mean power density of the bins between harmonics, per band; the band's quietest bin
        # where harmonics cover it all.
        bins_hz = np.arange(F) * bin_hz
        band = np.clip(np.searchsorted(self._band_edges, bins_hz, side="right") - 1, 0, cfg.noise_bands - 1)
        member = np.zeros((F, cfg.noise_bands))
        member[np.arange(F), band] = 1.0
        total, count = (P * keep) @ member, keep @ member  # [T, bands]
        starts = np.searchsorted(band, np.arange(cfg.noise_bands))
        present = np.bincount(band, minlength=cfg.noise_bands) > 0
        quietest = np.full((T, cfg.noise_bands), np.nan)
        quietest[:, present] = np.minimum.reduceat(P, starts[present], axis=1)
        density = np.where(count > 0, total / np.maximum(count, 1), quietest)
        if not present.all():  # bands narrower than a bin at this window length: their neighbours' value
            good = np.flatnonzero(present)
            for b in np.flatnonzero(~present):
                density[:, b] = density[:, good[np.argmin(np.abs(good - b))]]
        density = density / np.sum(w ** 2)  # white noise of variance s2 -> s2 in every band
        noise = np.log(np.maximum(density, _PSD_FLOOR))
        return np.concatenate([envelope, noise], axis=1).astype(np.float32)  # [T, D]

    # ---- synthesis -----------------------------------------------------------------------------

    def synthesise(self, features: torch.Tensor, pitch, generator: np.random.Generator | None = None) -> torch.Tensor:
        """frames [B, T, D], pitch [B] MIDI -> audio [B, T * hop] float32."""
        feats = torch.as_tensor(features).float().cpu().numpy()
        pitches = [float(p) for p in torch.as_tensor(pitch).flatten()]
        if len(pitches) != len(feats):
            raise CodecError(f"{len(feats)} notes but {len(pitches)} pitches")
        rng = generator if generator is not None else np.random.default_rng(0)
        feats = self._smooth(feats)
        return torch.from_numpy(np.stack([self._synthesise_one(f, p, rng) for f, p in zip(feats, pitches)]))

    def _smooth(self, feats: np.ndarray) -> np.ndarray:
        """[B, T, D] -> the running median over ``smooth_frames`` frames, the attack's frames left as they are
        (a one-frame peak at the onset is the attack itself, not a jump)."""
        n = self.cfg.smooth_frames
        T = feats.shape[1]
        if n <= 1 or T < n:
            return feats
        half = n // 2
        padded = np.concatenate([feats[:, :1].repeat(half, 1), feats, feats[:, -1:].repeat(half, 1)], axis=1)
        smoothed = np.median(np.lib.stride_tricks.sliding_window_view(padded, n, axis=1), axis=-1)
        attack = min(T, math.ceil(_ATTACK_SECONDS * self.frame_rate))
        smoothed[:, :attack] = feats[:, :attack]
        return smoothed.astype(feats.dtype)

    def _synthesise_one(self, feats: np.ndarray, pitch: float, rng: np.random.Generator) -> np.ndarray:
        cfg, sr, hop = self.cfg, self.sample_rate, self.cfg.hop
        T = feats.shape[0]
        N = T * hop
        G = cfg.envelope_points
        f0 = float(midi_to_hz(pitch))
        H = min(cfg.harmonics, int(cfg.max_freq // f0))
        out = np.zeros(N, dtype=np.float32)
        if H > 0:
            # Frame t sits at sample t * hop; between frames amplitudes move linearly, after the last they hold.
            # Within frame t's hop, harmonic h is Im(a * exp(i (h w (t hop + m) + phase_h))), m = 0..hop-1:
            # a per-frame complex coefficient [T, H] times a basis [H, hop] shared by all frames.
            to_harmonics = _interp_matrix(_mel(self._grid_hz), _mel(np.arange(1, H + 1) * f0))  # [G, H]
            amp = np.exp(feats[:, :G] @ to_harmonics)  # [T, H]
            amp[amp <= _AMP_FLOOR * 1.01] = 0.0
            following = np.concatenate([amp[1:], amp[-1:]])
            w = 2 * np.pi * f0 / sr * np.arange(1, H + 1)  # [H] radians per sample
            start = np.mod(np.outer(np.arange(T) * hop, w) + self._phases[:H], 2 * np.pi)  # [T, H], float64
            rotation = np.exp(1j * start).astype(np.complex64)
            basis = np.exp(1j * np.outer(w, np.arange(hop))).astype(np.complex64)  # [H, hop]
            frac = (np.arange(hop) / hop).astype(np.float32)
            now = ((amp * rotation).astype(np.complex64) @ basis).imag  # [T, hop]
            then = ((following * rotation).astype(np.complex64) @ basis).imag
            out += (now * (1 - frac) + then * frac).reshape(N)
        # Noise: white noise filtered frame by frame to the band densities; windows of twice the hop
        # (at least 1024) so that Hann windows overlap-add to a constant.
        n_fft = max(1024, 2 * hop)
        density = np.exp(feats[:, G:])  # [T, bands]
        freqs = np.arange(n_fft // 2 + 1) * sr / n_fft
        gains = np.sqrt(density @ _interp_matrix(self._band_centres, freqs))  # [T, F]
        gains = np.concatenate([gains, gains[-1:]], axis=0)  # torch.stft gives T + 1 frames for T * hop samples
        white = torch.from_numpy(rng.standard_normal(N).astype(np.float32))
        window = torch.hann_window(n_fft)
        spec = torch.stft(white, n_fft, hop, window=window, center=True, return_complex=True)  # [F, T + 1]
        spec = spec * torch.from_numpy(gains.T.astype(np.float32))
        noise = torch.istft(spec, n_fft, hop, window=window, center=True, length=N).numpy()
        return out + noise

    # ---- files ---------------------------------------------------------------------------------

    def _tensors(self) -> dict[str, torch.Tensor]:
        return {"codebooks": self.codebooks, "mean": self.mean, "std": self.std}

    def _digest(self) -> str:
        identity = self.cfg.to_dict()
        identity.pop("smooth_frames")  # decoding only: the same codes, so the same LM fits
        h = hashlib.sha256(json.dumps(identity, sort_keys=True).encode())
        for name, t in sorted(self._tensors().items()):
            h.update(name.encode())
            h.update(t.contiguous().numpy().tobytes())
        return h.hexdigest()[:16]

    def save(self, path: str | Path, extra: dict | None = None) -> Path:
        """A model folder (model.safetensors + config.json); ``extra``: JSON facts about the fit."""
        config = {"id": self.id, "hnc": self.cfg.to_dict(), "extra": extra or {}}
        return write_model_folder(path, HNC_FORMAT, HNC_VERSION, config, None, self._tensors())

    @classmethod
    def load(cls, path: str | Path) -> HarmonicNoiseCodec:
        try:
            config, tensors, _ = read_model_folder(path, HNC_FORMAT, HNC_VERSION, "harmonic-plus-noise codec")
        except CheckpointError as e:
            raise CodecError(str(e)) from None
        if not isinstance(config.get("hnc"), dict) or set(tensors) != {"codebooks", "mean", "std"}:
            raise CodecError(f"harmonic-plus-noise codec {path}: expected settings under \"hnc\" and tensors "
                             f"codebooks, mean, std; found {sorted(config)} and {sorted(tensors)}")
        try:
            cfg = HncConfig.from_dict(config["hnc"])
        except TypeError as e:
            raise CodecError(f"harmonic-plus-noise codec {path}: bad settings ({e})") from None
        codec = cls(cfg, tensors["codebooks"], tensors["mean"], tensors["std"])
        if config.get("id") not in (None, codec.id):
            raise CodecError(f"harmonic-plus-noise codec {path}: its files hash to {codec.id}, its config.json "
                             f"says {config['id']}: the folder was changed or damaged")
        return codec


def estimate_pitch(x: np.ndarray, sample_rate: int) -> float:
    """A MIDI pitch (21-108) from a harmonic sum over the loudest part of a note: for encoding without a pitch."""
    n_fft = 8192
    x = np.asarray(x, dtype=np.float64)
    if len(x) < n_fft:
        x = np.pad(x, (0, n_fft - len(x)))
    hop = n_fft // 4
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop]
    energy = (frames ** 2).sum(axis=1)
    loud = frames[energy >= 0.1 * energy.max()] if energy.max() > 0 else frames[:1]
    mag = np.sqrt((np.abs(np.fft.rfft(loud * np.hanning(n_fft), axis=1)) ** 2).mean(axis=0))
    mag = np.maximum.accumulate(np.stack([np.roll(mag, s) for s in (-2, -1, 0, 1, 2)]), axis=0)[-1]  # peak +-2 bins
    bin_hz = sample_rate / n_fft
    candidates = np.arange(21.0, 108.01, 0.25)
    scores = []
    for p in candidates:
        f0 = midi_to_hz(p)
        h = np.arange(1, max(1, min(12, int(0.45 * sample_rate // f0))) + 1)
        scores.append(np.sum(np.interp(h * f0 / bin_hz, np.arange(len(mag)), mag)
                             - np.interp((h - 0.5) * f0 / bin_hz, np.arange(len(mag)), mag)))
    return float(np.round(candidates[int(np.argmax(scores))]))


def _refine_f0(mean_power: np.ndarray, f0: float, bin_hz: float, H: int) -> float:
    """The tuning (within +-40 cents of ``f0``) whose harmonics hold the most power."""
    if H < 1:
        return f0
    bins = np.arange(len(mean_power))
    mag = np.sqrt(mean_power)
    best, best_score = f0, -1.0
    for cents in np.arange(-40, 41, 5):
        f = f0 * 2 ** (cents / 1200)
        score = np.interp(np.arange(1, H + 1) * f / bin_hz, bins, mag).sum()
        if score > best_score + 1e-12:
            best, best_score = f, score
    return best


def _nearest(x: torch.Tensor, book: torch.Tensor) -> torch.Tensor:
    """x [N, D], book [C, D] -> [N] index of the nearest row of ``book``."""
    out = torch.empty(len(x), dtype=torch.long)
    half_norm = 0.5 * (book * book).sum(1)
    for start in range(0, len(x), 65536):
        chunk = x[start:start + 65536]
        out[start:start + 65536] = torch.argmax(chunk @ book.T - half_norm, dim=1)
    return out


def _kmeans(x: torch.Tensor, k: int, iters: int, g: torch.Generator) -> torch.Tensor:
    """x [N, D] -> centroids [k, D]; k-means++-style seeding on a sample, Lloyd iterations."""
    N = len(x)
    if N < k:  # too few frames: repeat them (the extra codewords are never the nearest)
        x = x[torch.randint(0, N, (k,), generator=g)] if N else torch.zeros(k, x.shape[1])
        N = k
    sample = x[torch.randperm(N, generator=g)[:min(N, 20 * k)]]
    centroids = [sample[0]]
    d2 = ((sample - sample[0]) ** 2).sum(1)
    for _ in range(k - 1):
        i = int(torch.multinomial(d2 + 1e-12, 1, generator=g)) if d2.sum() > 0 else 0
        centroids.append(sample[i])
        d2 = torch.minimum(d2, ((sample - sample[i]) ** 2).sum(1))
    c = torch.stack(centroids)
    for _ in range(iters):
        idx = _nearest(x, c)
        sums = torch.zeros_like(c).index_add_(0, idx, x)
        counts = torch.bincount(idx, minlength=k).float()
        empty = counts == 0
        c = torch.where(empty[:, None], c, sums / counts.clamp(min=1)[:, None])
        if empty.any():  # an unused codeword moves to a random frame
            c[empty] = x[torch.randint(0, N, (int(empty.sum()),), generator=g)]
    return c


def fit_hnc(notes: Iterable[tuple[np.ndarray, int, float]], cfg: HncConfig = HncConfig(),
            log=None) -> HarmonicNoiseCodec:
    """Fit the codebooks to notes: (mono float32 audio, its sample rate, MIDI pitch) each.

    Audio at another rate than ``cfg.sample_rate`` is resampled (soxr). Silent
    frames are left out of the fit past the first 10% of them, so that the
    codebooks are spent on sound."""
    import soxr

    started = time.perf_counter()
    analyser = HarmonicNoiseCodec(cfg, torch.zeros(cfg.num_codebooks, cfg.codebook_size, cfg.feature_size),
                                  torch.zeros(cfg.feature_size), torch.ones(cfg.feature_size))
    frames, count = [], 0
    for audio, rate, pitch in notes:
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 1:
            raise CodecError(f"fit_hnc expects mono audio [N], got shape {audio.shape}")
        if rate != cfg.sample_rate:
            audio = soxr.resample(audio, rate, cfg.sample_rate)
        frames.append(analyser._analyse_one(audio.astype(np.float64), float(pitch)))
        count += 1
    if not frames:
        raise CodecError("fit_hnc got no notes")
    x = torch.from_numpy(np.concatenate(frames))  # [frames, D]
    silent = x[:, :cfg.envelope_points].max(dim=1).values <= math.log(_AMP_FLOOR) + 1e-3
    g = torch.Generator().manual_seed(cfg.seed)
    quiet = torch.nonzero(silent).flatten()
    keep = torch.cat([torch.nonzero(~silent).flatten(), quiet[torch.randperm(len(quiet), generator=g)[:len(x) // 10]]])
    x = x[keep]
    mean, std = x.mean(0), x.std(0).clamp(min=1e-3)
    r = (x - mean) / std
    books = []
    for _ in range(cfg.num_codebooks):
        book = _kmeans(r, cfg.codebook_size, cfg.kmeans_iters, g)
        r = r - book[_nearest(r, book)]
        books.append(book)
    codec = HarmonicNoiseCodec(cfg, torch.stack(books), mean, std)
    if log:
        log(f"fitted {codec.id} on {count} notes ({len(x)} frames) in {time.perf_counter() - started:.1f} s; "
            f"residual rms {float(r.pow(2).mean().sqrt()):.3f} of normalised frames")
    return codec
