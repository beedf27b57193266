"""Which note the generator makes next.

The generator makes a few notes per second on a CPU, so its order decides how
often a key plays its own sample rather than a neighbour's. In order:

1. keys pressed that are not ready, the most pressed lately first: a key
   played often is likely to be played again soon;
2. for a new instrument, anchor keys every ``anchor_step`` semitones across
   the keyboard, in the layer being played, so that every key soon has a near
   neighbour (ordered outwards from where the performer plays);
3. the notes most likely to be played next, predicted from the recent note-ons:
   near in pitch (within ``radius`` semitones, steps and chord tones first),
   the same pitch class in other octaves and the played scale within the played
   range (tonal music reuses its scale), and the velocity layers being played
   (adjacent layers after);
4. the rest of the instrument (``fill = "all"``), nearest the played range first.

Duplicates cannot arise (each note is in one state: missing, in flight or
ready). Switching instrument forgets the queue of the old one; what was made
stays on disk. The policy ``on_demand`` keeps step 1 only, for comparison.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

import numpy as np

from livesampler.config import PrefetchConfig
from livesampler.gen.spec import ALL_KEYS, LAYERS, PITCHES, NoteKey

_KEY_PITCH = np.array([p for p, _ in ALL_KEYS], np.float64)
_KEY_LAYER = np.array([LAYERS.index(v) for _, v in ALL_KEYS], np.float64)
_INDEX = {key: i for i, key in enumerate(ALL_KEYS)}

# Tuned on the benchmark pieces (benchmarks/prefetch.py); small changes move
# the figures by tenths of a percent: what limits them is the generator's speed
# in the first seconds, when every key pressed is new.
HEAT_DECAY = 0.97  # per note-on: how fast a key's past presses stop counting
# How likely the next note is at each distance (0-12 semitones) from a played
# one: steps and chord tones (thirds, fourth, fifth) more than a tritone.
INTERVALS = np.array([0.0, 1.0, 0.95, 0.8, 0.8, 0.7, 0.3, 0.7, 0.4, 0.4, 0.3, 0.3, 0.5])
TONAL = 0.5  # weight of the played scale within the played range
TONAL_REACH = 4.0  # semitones: how fast that weight falls outside the range

# Bands of the score: every key of a higher band goes before any of a lower one.
_PRESSED, _ANCHOR, _PREDICTED, _REST = 3e6, 2e6, 1e6, 0.0


class Scheduler:
    """Not thread-safe: one thread (the generation loop) owns it."""

    def __init__(self, settings: PrefetchConfig = PrefetchConfig()):
        self.settings = settings
        self.instrument_id = ""
        self.state = np.zeros(len(ALL_KEYS), np.int8)  # 0 missing, 1 in flight, 2 ready
        self.pressed_at = np.full(len(ALL_KEYS), -1.0)  # order of the last press of each key
        self.heat = np.zeros(len(ALL_KEYS))  # presses of each key, the older ones counting less
        self.recent: deque[NoteKey] = deque(maxlen=max(1, settings.history))
        self.presses = 0
        self._ready = 0
        self._nothing_since = -1  # the change count at which next_batch last found nothing to do
        self._changes = 0

    # What happens.

    def switch(self, instrument_id: str, ready: Iterable[NoteKey] = ()) -> None:
        """Work on another instrument from now on; its queue starts empty."""
        self.instrument_id = instrument_id
        self.state[:] = 0
        self.pressed_at[:] = -1.0
        self.heat[:] = 0.0
        for key in ready:
            if key in _INDEX:
                self.state[_INDEX[key]] = 2
        self._ready = int(np.count_nonzero(self.state == 2))
        self._changes += 1
        # The recent notes stay: the performer's hands are where they were.

    def pressed(self, key: NoteKey) -> None:
        i = _INDEX.get(key)
        if i is None:
            return  # outside the generated range: it borrows the nearest end
        self.presses += 1
        self.pressed_at[i] = self.presses
        self.heat *= HEAT_DECAY
        self.heat[i] += 1.0
        self.recent.append(key)
        self._changes += 1

    def landed(self, key: NoteKey) -> None:
        self._set(key, 2)

    def lost(self, key: NoteKey) -> None:
        """A note that was ready is not (damaged, evicted) or was never made (worker died)."""
        self._set(key, 0)

    def _set(self, key: NoteKey, state: int) -> None:
        i = _INDEX.get(key)
        if i is None:
            return
        self._ready += int(state == 2) - int(self.state[i] == 2)
        self.state[i] = state
        self._changes += 1

    @property
    def filled(self) -> bool:
        return self._ready == len(ALL_KEYS)

    @property
    def ready_count(self) -> int:
        return self._ready

    # What comes next.

    def next_batch(self, size: int) -> list[NoteKey]:
        """Up to ``size`` notes to make now, best first; they count as in flight."""
        if self.filled or self._nothing_since == self._changes:
            return []  # nothing changed since there was nothing to do
        score = self.scores()
        order = np.argsort(-score, kind="stable")
        batch = [int(i) for i in order[:size] if score[i] > -np.inf]
        if not batch:
            self._nothing_since = self._changes
        self.state[batch] = 1
        self._changes += 1
        return [ALL_KEYS[i] for i in batch]

    def scores(self) -> np.ndarray:
        """A score per key (higher first); -inf for keys not to make now."""
        s = self.settings
        score = np.full(len(ALL_KEYS), -np.inf)
        missing = self.state == 0
        pressed = missing & (self.pressed_at > 0)
        score[pressed] = _PRESSED + self.heat[pressed] * 1e3 + self.pressed_at[pressed] * 1e-3
        if s.policy == "on_demand":
            return score
        recent = np.array(self.recent, np.float64).reshape(-1, 2)
        layer_weight = self._layer_weights(recent)
        if len(recent):
            centre = float(np.median(recent[:, 0]))
        else:
            centre = 60.0
        distance_from_centre = np.abs(_KEY_PITCH - centre)
        free = missing & ~pressed
        if s.anchor_step > 0:
            anchors = free & self._anchor_mask(centre) & (_KEY_LAYER == int(np.argmax(layer_weight)))
            score[anchors] = _ANCHOR - distance_from_centre[anchors]
            free &= ~anchors
        if len(recent):
            likely = self._likelihood(recent, layer_weight)
            predicted = free & (likely > 0)
            score[predicted] = _PREDICTED + likely[predicted]
            free &= ~predicted
        if s.fill == "all":
            # Nearest the played range first, layers by how much they are played.
            score[free] = _REST - distance_from_centre[free] * 10.0 + layer_weight[_KEY_LAYER[free].astype(int)]
        return score

    def _anchor_mask(self, centre: float) -> np.ndarray:
        step = self.settings.anchor_step
        # Anchors line up with the played centre, so one of them is where the hands are.
        phase = int(round(centre)) % step
        return (_KEY_PITCH.astype(int) % step) == phase

    @staticmethod
    def _layer_weights(recent: np.ndarray) -> np.ndarray:
        """How much each layer is wanted: the played ones, their neighbours a little."""
        counts = np.zeros(len(LAYERS))
        for _, layer in recent:
            counts[LAYERS.index(int(layer))] += 1.0
        if not counts.any():
            counts[LAYERS.index(100)] = 1.0  # nothing played yet: a firm touch
        weights = counts / counts.sum()
        spread = np.convolve(weights, [0.25, 1.0, 0.25], mode="same")
        return np.maximum(weights, 0.5 * spread * (weights == 0))

    def _likelihood(self, recent: np.ndarray, layer_weight: np.ndarray) -> np.ndarray:
        """How likely each key is to be played soon, from the recent note-ons (0: not near any)."""
        s = self.settings
        age = np.arange(len(recent), 0, -1, dtype=np.float64)  # 1 = the latest
        recency = 0.5 ** (age / max(1.0, len(recent) / 2.0))
        d = np.abs(_KEY_PITCH[:, None] - recent[None, :, 0])  # [keys, recent]
        near = np.where(d <= s.radius, INTERVALS[np.minimum(d, 12).astype(int)], 0.0)
        if s.octaves:
            same_class = (d % 12 == 0) & (d > 0) & (d <= 24)
            near = np.maximum(near, np.where(same_class, 0.5, 0.0))
        pitch_score = near @ recency
        if TONAL:
            # The scale being played, within the range being played: the notes a
            # piece moves to next are mostly these.
            classes = np.zeros(12)
            np.add.at(classes, recent[:, 0].astype(int) % 12, recency)
            classes /= classes.max()
            lo, hi = recent[:, 0].min() - s.radius, recent[:, 0].max() + s.radius
            outside = np.maximum(lo - _KEY_PITCH, _KEY_PITCH - hi).clip(min=0)
            tonal = classes[_KEY_PITCH.astype(int) % 12] * np.where(outside <= 2 * TONAL_REACH, np.exp(-outside / TONAL_REACH), 0.0)
            pitch_score = pitch_score + TONAL * tonal * recency.sum() / len(recency)
        return pitch_score * layer_weight[_KEY_LAYER.astype(int)]
