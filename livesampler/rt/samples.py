"""Sample memory: every sample the engine can play, at the output sample rate.

All samples sit in one flat float32 array, so that the mixing kernel reads any
of them with one index. Samples are resampled once, when they are added, never
while playing. A loop must stay seamless through that resampling: its length is
rounded to a whole number of output frames (the sample is resampled at a ratio
a hair away from the exact one, and the voice's rate corrects the pitch), and
the loop body is resampled from a periodic copy of itself, so the frames after
``loop_end`` continue the waveform that starts at ``loop_start``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import soxr

PAD = 3  # zero frames on each side: the 4-point interpolator may read 1 before and 2 after


@dataclass(frozen=True)
class SampleRef:
    """Where a sample lies in the bank. Frame numbers count from the sample's frame 0."""

    start: int  # index of frame 0 of the left (or only) channel in ``SampleBank.data``
    start_r: int  # frame 0 of the right channel; == start for mono
    frames: int
    loop_start: int  # -1 without a loop
    loop_end: int  # exclusive
    rate: float  # playback-rate correction for the rounded loop length (1.0 without a loop)
    scale: float  # output frames per source frame: converts offsets given in source frames

    @property
    def has_loop(self) -> bool:
        return self.loop_start >= 0


def _resample(x: np.ndarray, ratio: float) -> np.ndarray:
    """``x`` [frames, channels] resampled by ``ratio`` (output frames per input frame)."""
    if ratio == 1.0:
        return x
    # soxr wants rates, not a ratio; any pair with the right quotient does.
    return soxr.resample(x, 1_000_000.0, 1_000_000.0 * ratio, quality="HQ").astype(np.float32, copy=False)


def prepare(audio: np.ndarray, source_rate: float, output_rate: float, loop: tuple[int, int] | None):
    """Resample ``audio`` [frames, channels] to ``output_rate``, keeping ``loop`` seamless.

    ``loop`` is ``(start, end)`` in source frames, end exclusive. Returns
    ``(audio, loop_in_output_frames_or_None, rate_correction, scale)``.
    """
    ratio = output_rate / source_rate
    if loop is None:
        return _resample(audio, ratio), None, 1.0, ratio
    start, end = loop
    length = end - start
    out_length = max(1, round(length * ratio))
    exact = out_length / length  # the ratio that makes the loop a whole number of frames
    body = audio[start:end]
    # The loop: the middle of three periods, so the filter sees it as the
    # periodic signal that playback makes of it.
    period = _resample(np.concatenate([body] * 3), exact)[out_length : 2 * out_length]
    # Before the loop: resampled backwards from the loop start (two periods of
    # context), so that the loop start falls exactly on an output frame.
    backwards = np.ascontiguousarray(np.concatenate([audio[:start], body, body, body[:1]])[::-1])
    before = _resample(backwards, exact)[2 * out_length + 1 :][::-1]
    # After the loop: forwards from one period before its end, for the same reason.
    after = _resample(np.concatenate([body, audio[end:]]), exact)[out_length:]
    out = np.concatenate([before, period, after])
    loop_start = before.shape[0]
    return out, (loop_start, loop_start + out_length), exact / ratio, exact


class SampleBank:
    """A growing store of samples. ``data`` may be read by the audio thread at any time.

    ``add`` runs outside the audio thread. When the store must grow it copies into
    a larger array and swaps the reference, so a reader always sees a complete
    array in which every sample added before stays where it was.
    """

    def __init__(self, sample_rate: int, capacity_frames: int = 1 << 20):
        self.sample_rate = sample_rate
        self.data = np.zeros(capacity_frames, np.float32)
        self._used = 0
        self._free: list[tuple[int, int]] = []  # (start, length) spans given back, sorted by start
        self._lock = threading.Lock()  # writers only; the audio thread never takes it

    @property
    def used_frames(self) -> int:
        """Frames held by samples (the high-water mark less what was freed)."""
        return self._used - sum(n for _, n in self._free)

    @staticmethod
    def span(ref: SampleRef) -> tuple[int, int]:
        """``(start, length)`` of the frames ``ref`` occupies, padding included."""
        channels = 2 if ref.start_r != ref.start else 1
        return ref.start - PAD, (ref.frames + 2 * PAD) * channels

    def free(self, ref: SampleRef) -> None:
        """Give ``ref``'s frames back for later samples.

        Only once no voice can play it any more: the caller removes it from
        every instrument first and waits until the audio thread has moved on
        (see ``gen.cache``). The frames are zeroed, so even a late reader hears
        silence rather than another sample.
        """
        at, n = self.span(ref)
        with self._lock:
            self.data[at : at + n] = 0.0
            spans = sorted(self._free + [(at, n)])
            merged = [spans[0]]
            for s, length in spans[1:]:
                last_s, last_n = merged[-1]
                if last_s + last_n == s:
                    merged[-1] = (last_s, last_n + length)
                else:
                    merged.append((s, length))
            if merged[-1][0] + merged[-1][1] == self._used:
                self._used = merged.pop()[0]  # a free tail is just unused room
            self._free = merged

    def _reserve(self, n: int) -> int:
        for i, (s, length) in enumerate(self._free):
            if length >= n:  # first fit
                self._free[i : i + 1] = [(s + n, length - n)] if length > n else []
                return s
        at = self._used
        if at + n > self.data.shape[0]:
            grown = np.zeros(max(2 * self.data.shape[0], at + n), np.float32)
            grown[:at] = self.data[:at]
            self.data = grown
        self._used = at + n
        return at

    def add(self, audio: np.ndarray, source_rate: float, loop: tuple[int, int] | None = None) -> SampleRef:
        """Store ``audio`` ([frames] or [frames, channels], any float or int dtype)."""
        audio = np.asarray(audio)
        if audio.ndim == 1:
            audio = audio[:, None]
        if audio.ndim != 2 or audio.shape[1] not in (1, 2) or audio.shape[0] == 0:
            raise ValueError(f"a sample must be mono or stereo audio with frames, got shape {audio.shape}")
        if np.issubdtype(audio.dtype, np.integer):
            audio = audio.astype(np.float32) / np.float32(np.iinfo(audio.dtype).max + 1)
        audio = audio.astype(np.float32, copy=False)
        if loop is not None:
            ls, le = loop
            if not 0 <= ls < le <= audio.shape[0]:
                raise ValueError(f"loop {ls}..{le} lies outside the sample's {audio.shape[0]} frames")
        resampled, out_loop, rate, scale = prepare(audio, source_rate, self.sample_rate, loop)
        frames, channels = resampled.shape
        stride = frames + 2 * PAD
        with self._lock:
            at = self._reserve(stride * channels)
            for c in range(channels):
                base = at + c * stride + PAD
                self.data[base : base + frames] = resampled[:, c]
        start = at + PAD
        return SampleRef(
            start=start,
            start_r=start + stride if channels == 2 else start,
            frames=frames,
            loop_start=out_loop[0] if out_loop else -1,
            loop_end=out_loop[1] if out_loop else -1,
            rate=rate,
            scale=scale,
        )
