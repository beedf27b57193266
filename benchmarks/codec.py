"""Quality and speed of the pocket harmonic-plus-noise codec on held-out General MIDI notes.

    PYTHONPATH=. python benchmarks/codec.py [--font FluidR3_GM.sf2] [--work /tmp/livesampler-codec-bench]
                                            [--codec MODEL_DIR] [--pyin]

Renders two note sets in NSynth's layout with the fluidsynth command line (4 s
notes at 16 kHz, held 3 s, reverb and chorus off): a training set from 56 GM
programs and a held-out set of 40 notes from 10 other programs, one per family
(piano, mallet, organ, guitar, bass, strings, brass, reed, pipe, lead). Fits the
codec on the training set (``livesampler train codec``'s code; or loads --codec),
then reports on the held-out notes, for the codes (4 x 256) and for the
unquantised analysis/synthesis:

- pitch: share of notes whose pYIN median f0 (over the first 2 s, searched two octaves either side) lies within 50 cents of the asked
  pitch, the real notes alongside (--pyin; librosa, about a minute);
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
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

SR, NOTE_S, HELD_S, SLOT_S = 16000, 4.0, 3.0, 5.0
FAMILY_RANGE = {0: (33, 96), 1: (48, 96), 2: (36, 90), 3: (40, 84), 4: (28, 60), 5: (40, 90), 6: (40, 84),
                7: (40, 84), 8: (45, 84), 9: (60, 96), 10: (40, 90), 11: (36, 84), 12: (36, 84), 13: (45, 84)}
HELD_OUT = [0, 11, 16, 24, 32, 40, 56, 66, 73, 80]  # one program per family, none of them fitted on
TRAIN = [p for p in range(112) if p % 4 in (1, 3)]
VELOCITIES = (50, 75, 100, 127)


def render_set(font: Path, folder: Path, programs: list[int], per_program: int) -> None:
    """NSynth layout: folder/examples.json + folder/audio/<name>.wav."""
    import json

    import mido
    import soundfile

    if (folder / "examples.json").is_file():
        return
    notes = []  # (program, pitch, velocity)
    for i, program in enumerate(programs):
        lo, hi = FAMILY_RANGE[program // 8]
        for j, pitch in enumerate(np.linspace(lo, hi, per_program).round().astype(int)):
            notes.append((program, int(pitch), VELOCITIES[(i + j) % len(VELOCITIES)]))
    song = mido.MidiFile(ticks_per_beat=500)  # 120 bpm: 1 tick = 1 ms
    track = mido.MidiTrack()
    song.tracks.append(track)
    now = 0
    for k, (program, pitch, velocity) in enumerate(notes):
        start = round(k * SLOT_S * 1000)
        track.append(mido.Message("program_change", program=program, time=start - now))
        track.append(mido.Message("note_on", note=pitch, velocity=velocity, time=0))
        track.append(mido.Message("note_off", note=pitch, velocity=0, time=round(HELD_S * 1000)))
        now = start + round(HELD_S * 1000)
    track.append(mido.MetaMessage("end_of_track", time=round((SLOT_S - HELD_S) * 1000)))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "audio").mkdir(exist_ok=True)
    song.save(folder / "notes.mid")
    wav = folder / "all.wav"
    subprocess.run(["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.5", "-r", str(SR), "-F", str(wav),
                    str(font), str(folder / "notes.mid")], check=True, capture_output=True)
    audio, rate = soundfile.read(wav, dtype="float32", always_2d=True)
    assert rate == SR, rate
    audio = audio.mean(axis=1)
    examples = {}
    for k, (program, pitch, velocity) in enumerate(notes):
        start = round(k * SLOT_S * SR)
        note = audio[start:start + round(NOTE_S * SR)]
        note = np.pad(note, (0, round(NOTE_S * SR) - len(note)))
        name = f"gm{program:03d}_{pitch:03d}-{velocity:03d}"
        soundfile.write(folder / "audio" / f"{name}.wav", note, SR, subtype="FLOAT")
        examples[name] = {"note_str": name, "pitch": pitch, "velocity": velocity, "sample_rate": SR,
                          "instrument_str": f"gm{program:03d}", "instrument_family": program // 8}
    (folder / "examples.json").write_text(json.dumps(examples, indent=1))
    wav.unlink()


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


def pitch_ok(x: np.ndarray, pitch: int) -> bool:
    import librosa

    f0 = 440 * 2 ** ((pitch - 69) / 12)
    fmin, fmax = max(f0 / 4, 20.0), min(f0 * 4, 7900.0)  # two octaves either side
    frame = 4096 if fmin < 60 else 2048
    track, voiced, _ = librosa.pyin(x[:2 * SR], fmin=fmin, fmax=fmax, sr=SR, frame_length=frame)
    found = track[voiced & np.isfinite(track)]
    if not len(found):
        return False
    return abs(1200 * np.log2(np.median(found) / f0)) <= 50


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--font", type=Path, default=Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"))
    p.add_argument("--work", type=Path, default=Path("/tmp/livesampler-codec-bench"),
                   help="where the rendered note sets and the fitted codec go (reused when present)")
    p.add_argument("--codec", type=Path, help="a fitted codec's model folder (default: fit one on the training set)")
    p.add_argument("--per-program", type=int, default=11, help="training notes per program")
    p.add_argument("--pyin", action="store_true", help="also measure pitch accuracy with librosa's pYIN (slow)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if shutil.which("fluidsynth") is None:
        sys.exit("benchmarks/codec.py: the fluidsynth command is missing (Debian: apt-get install fluidsynth)")
    if not args.font.is_file():
        sys.exit(f"benchmarks/codec.py: soundfont {args.font} is missing (Debian: apt-get install fluid-soundfont-gm)")
    if args.pyin:
        try:
            import librosa  # noqa: F401
        except ImportError:
            sys.exit("benchmarks/codec.py: --pyin needs librosa (pip install -e '.[bench]')")

    from livesampler.model.hnc import HarmonicNoiseCodec
    from livesampler.train.codec import read_notes, train_codec

    started = time.perf_counter()
    render_set(args.font, args.work / "train", TRAIN, args.per_program)
    render_set(args.font, args.work / "heldout", HELD_OUT, 4)
    print(f"note sets in {args.work} ({time.perf_counter() - started:.0f} s)")
    if args.codec:
        codec = HarmonicNoiseCodec.load(args.codec)
    else:
        codec = train_codec(args.work / "train", args.work / "hnc")

    rows = {"codes": [], "unquantised": []}
    pitch_rows = {"real": [], "codes": []}
    enc_ms, dec_ms = [], []
    for audio, rate, pitch in read_notes(args.work / "heldout"):
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
            pitch_rows["real"].append(pitch_ok(audio, pitch))
            pitch_rows["codes"].append(pitch_ok(decoded, pitch))
    n = len(enc_ms)
    print(f"\ncodec {codec.id}: {codec.num_codebooks} x {codec.codebook_size} codes at {codec.frame_rate:g} frames/s; "
          f"{n} held-out notes (GM programs {HELD_OUT})")
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
