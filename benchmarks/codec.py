"""Quality and speed of the pocket harmonic-plus-noise codec on held-out notes of a rendered note set.

    livesampler dataset render-soundfont /usr/share/sounds/sf2/FluidR3_GM.sf2 -o notes
    PYTHONPATH=. python benchmarks/codec.py --data notes [--codec MODEL_DIR] [--max-notes 2000]
                                            [--notes 40] [--split test] [--pyin]

Fits the codec on the set's train split (``livesampler train codec``'s code; or
loads --codec), then reports on notes of another split, whose instruments the
fit never heard (render.py splits by instrument): ``--notes`` of them, one per
instrument in turn, each at a pitch spread over the instrument's range. For the
codes (4 x 256) and for the unquantised analysis/synthesis:

- pitch: share of notes whose fundamental lies within 50 cents of the asked
  pitch, found as ``livesampler eval`` finds it (``eval.pitch.analyse``: pYIN
  over 0.1-1.1 s, notes above 1 kHz at 48 kHz), the real notes alongside
  (--pyin; librosa, about a minute);
- LSD: log-spectral distance, dB (1024-point frames, hop 256, frames within 60 dB
  of the loudest, spectra floored 80 dB below the note's peak);
- MR-STFT: multi-resolution STFT distance (spectral convergence + mean |log
  magnitude| difference, averaged over 512/1024/2048-point frames);
- envelope r: correlation of 20 ms frame energies in dB (floored 60 dB down);
- speed: encode and decode of one 4 s note, ms, one thread (torch and BLAS).
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # one thread for numpy's BLAS too: on a shared machine more threads are slower

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

SR = 16000


def held_out(data: Path, split: str, count: int) -> list:
    """``count`` notes of ``split``: instruments in turn, pitches spread over each one's range."""
    from livesampler.data.nsynth import read_dataset

    splits = read_dataset(data)
    if split not in splits:
        sys.exit(f"benchmarks/codec.py: {data} has no {split} split (it has {', '.join(splits)})")
    by_instrument: dict[str, list] = {}
    for n in sorted(splits[split], key=lambda n: (n.instrument_str, n.pitch, n.velocity)):
        by_instrument.setdefault(n.instrument_str, []).append(n)
    names = sorted(by_instrument)
    per = -(-count // len(names))
    picked = []
    for k in range(per):
        for name in names:
            notes = by_instrument[name]
            picked.append(notes[round((k + 0.5) / per * (len(notes) - 1))])
    return picked[:count]


def _stft_mag(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    x = np.pad(x, (n_fft // 2, n_fft // 2))
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop]
    return np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=1))  # [T, F]


def lsd_db(ref: np.ndarray, out: np.ndarray) -> float:
    a, b = _stft_mag(ref, 1024, 256) ** 2, _stft_mag(out, 1024, 256) ** 2
    floor = a.max() * 1e-8
    la, lb = 10 * np.log10(np.maximum(a, floor)), 10 * np.log10(np.maximum(b, floor))
    energy = 10 * np.log10(a.sum(1) + 1e-20)
    frames = energy >= energy.max() - 60
    return float(np.mean(np.sqrt(np.mean((la[frames] - lb[frames]) ** 2, axis=1))))


def mrstft(ref: np.ndarray, out: np.ndarray) -> float:
    total = []
    for n_fft in (512, 1024, 2048):
        a, b = _stft_mag(ref, n_fft, n_fft // 4), _stft_mag(out, n_fft, n_fft // 4)
        sc = np.linalg.norm(a - b) / max(np.linalg.norm(a), 1e-9)
        mag = np.mean(np.abs(np.log(a + 1e-5) - np.log(b + 1e-5)))
        total.append(sc + mag)
    return float(np.mean(total))


def envelope_r(ref: np.ndarray, out: np.ndarray) -> float:
    def env(x):
        e = 10 * np.log10(np.mean(x[:len(x) // 320 * 320].reshape(-1, 320) ** 2, axis=1) + 1e-20)
        return np.maximum(e, e.max() - 60)
    return float(np.corrcoef(env(ref), env(out))[0, 1])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, required=True, help="a note set from `livesampler dataset render-soundfont`")
    p.add_argument("--codec", type=Path, help="a fitted codec's model folder (default: fit one on the train split)")
    p.add_argument("--max-notes", type=int, default=2000, help="training notes to fit on (spread over the split)")
    p.add_argument("--split", default="test", help="the split to measure on (default: test)")
    p.add_argument("--notes", type=int, default=40, help="held-out notes to measure")
    p.add_argument("--pyin", action="store_true", help="also measure pitch accuracy with librosa's pYIN (slow)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)

    from livesampler.data.nsynth import read_audio
    from livesampler.eval.pitch import analyse
    from livesampler.model.hnc import HarmonicNoiseCodec
    from livesampler.train.codec import train_codec

    notes = held_out(args.data, args.split, args.notes)
    if args.codec:
        codec = HarmonicNoiseCodec.load(args.codec)
    else:
        codec = train_codec(args.data, args.data / "hnc-benchmark", args.max_notes)

    rows = {"codes": [], "unquantised": []}
    pitch_rows = {"real": [], "codes": []}
    enc_ms, dec_ms = [], []
    for note in notes:
        audio, pitch = read_audio(note, SR), note.pitch
        x = torch.from_numpy(audio)[None]
        pt = torch.tensor([pitch])
        t0 = time.perf_counter()
        codes = codec.encode(x, pt)
        t1 = time.perf_counter()
        decoded = codec.decode(codes, pt)[0, :len(audio)].numpy()
        t2 = time.perf_counter()
        enc_ms.append(1e3 * (t1 - t0))
        dec_ms.append(1e3 * (t2 - t1))
        plain = codec.synthesise(codec.analyse(x, pt), pt)[0, :len(audio)].numpy()
        for name, out in (("codes", decoded), ("unquantised", plain)):
            rows[name].append((lsd_db(audio, out), mrstft(audio, out), envelope_r(audio, out)))
        if args.pyin:
            pitch_rows["real"].append(analyse(audio, SR, pitch).right)
            pitch_rows["codes"].append(analyse(decoded, SR, pitch).right)
    n = len(enc_ms)
    print(f"\ncodec {codec.id}: {codec.num_codebooks} x {codec.codebook_size} codes at {codec.frame_rate:g} frames/s; "
          f"{n} notes of {len({x.instrument_str for x in notes})} {args.split} instruments")
    print("| | pitch within 50 cents | LSD dB | MR-STFT | envelope r |")
    print("|---|---|---|---|---|")
    if args.pyin:
        print(f"| real notes | {sum(pitch_rows['real'])}/{n} | 0 | 0 | 1 |")
    for name, values in rows.items():
        v = np.array(values)
        pitch = f"{sum(pitch_rows['codes'])}/{n}" if args.pyin and name == "codes" else "-"
        print(f"| {name} | {pitch} | {v[:, 0].mean():.2f} | {v[:, 1].mean():.3f} | {v[:, 2].mean():.3f} |")
    print(f"\nencode {np.median(enc_ms):.1f} ms, decode {np.median(dec_ms):.1f} ms per 4 s note (median, 1 thread)")


if __name__ == "__main__":
    main()
