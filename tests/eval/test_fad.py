"""FAD: the Fréchet distance on constructed embeddings, and the per-note-set embedding cache."""

import os

import numpy as np
import pytest
import torch

from livesampler.data.nsynth import read_split
from livesampler.eval.embeddings import LogMelStats, NoteEmbeddings, cache_folder
from livesampler.eval.fad import Gaussian, fad, frechet_distance

from .conftest import tone, write_note_set


def test_identical_sets_are_at_zero_and_a_shift_adds_its_square():
    rng = np.random.default_rng(0)
    E = rng.standard_normal((300, 32))
    assert fad(E, Gaussian.fit(E)) == pytest.approx(0, abs=1e-8)
    shift = np.zeros(32)
    shift[3] = 0.5
    assert fad(E + shift, Gaussian.fit(E)) == pytest.approx(0.25, rel=1e-6)
    assert fad(E + 2 * shift, Gaussian.fit(E)) == pytest.approx(1.0, rel=1e-6)


def test_distance_is_symmetric_grows_with_spread_and_survives_few_samples():
    rng = np.random.default_rng(1)
    a, b = Gaussian.fit(rng.standard_normal((500, 16))), Gaussian.fit(2 * rng.standard_normal((500, 16)))
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-9)
    assert frechet_distance(a, b) == pytest.approx(16 * (2 - 1) ** 2, rel=0.15)  # tr(S1 + S2 - 2 (S1 S2)^1/2)
    few = rng.standard_normal((10, 512))  # singular covariances: still a real, finite number
    d = fad(few + 0.1, Gaussian.fit(rng.standard_normal((12, 512))))
    assert np.isfinite(d) and d > 0


def test_both_ways_to_the_trace_agree_with_the_matrix_square_root():
    from scipy.linalg import sqrtm

    rng = np.random.default_rng(2)
    for n_a, n_b in ((5, 7), (40, 60), (5, 60)):  # fewer notes than dimensions, more, and mixed
        a, b = Gaussian.fit(rng.standard_normal((n_a, 12))), Gaussian.fit(3 + rng.standard_normal((n_b, 12)))
        shift = a.mean - b.mean
        expected = shift @ shift + np.trace(a.cov + b.cov - 2 * np.real(sqrtm(a.cov @ b.cov)))
        assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)


class Counting:
    """An embedding model that counts the notes it embeds."""

    id = "counting-1"

    def __init__(self):
        self.calls = 0

    def embed_audio(self, audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
        self.calls += len(audio)
        return torch.stack([audio.abs().mean(dim=1), audio.std(dim=1), torch.full((len(audio),), float(sample_rate))],
                           dim=1)


def test_embeddings_are_cached_per_note_set_and_redone_for_changed_notes(tmp_path):
    split = write_note_set(tmp_path / "set" / "test", {f"inst-{p:03d}-100": tone(p, 0.5) for p in (48, 60, 72)})
    notes = read_split(split)
    model = Counting()
    first = NoteEmbeddings(model, cache_folder(split))(notes)
    assert model.calls == 3 and (split / "embeddings" / "counting-1.npz").is_file()

    again = NoteEmbeddings(model, cache_folder(split))
    assert np.array_equal(again(notes), first) and model.calls == 3 and again.embedded == 0

    # a note rendered again (new content, new time stamp) and a new note are embedded; the rest is reused
    write_note_set(split, {"inst-060-100": 0.5 * tone(60, 0.5), "inst-084-100": tone(84, 0.5)})
    stamp = os.stat(split / "audio" / "inst-060-100.wav").st_mtime_ns
    os.utime(split / "audio" / "inst-060-100.wav", ns=(stamp + 10**9, stamp + 10**9))
    changed = read_split(split)
    assert len(changed) == 2  # examples.json now lists the two written notes
    third = NoteEmbeddings(model, cache_folder(split))
    vectors = third(changed + [n for n in notes if n.pitch != 60])
    assert third.embedded == 2 and model.calls == 5
    assert not np.allclose(vectors[0], first[1])  # the quieter 60 was embedded again

    # another model gets its own file; no folder means nothing kept between runs
    NoteEmbeddings(LogMelStats(), cache_folder(split))(notes[:1])
    assert sorted(p.name for p in (split / "embeddings").iterdir()) == ["counting-1.npz", f"{LogMelStats.id}.npz"]
    for _ in range(2):
        uncached = NoteEmbeddings(model, None)
        uncached(notes[:1])
        assert uncached.embedded == 1


def test_a_cache_folder_elsewhere_keeps_note_sets_apart(tmp_path):
    a, b = cache_folder(tmp_path / "one" / "test", tmp_path / "cache"), cache_folder(tmp_path / "two" / "test",
                                                                                   tmp_path / "cache")
    assert a.parent == b.parent == tmp_path / "cache" and a != b and a.name.startswith("one-test-")


def test_a_read_only_note_set_is_embedded_without_a_cache(tmp_path):
    split = write_note_set(tmp_path / "set" / "test", {f"inst-{p:03d}-100": tone(p, 0.3) for p in (48, 60)})
    (split / "embeddings").write_text("not a folder")  # the cache cannot be written there
    embeddings = NoteEmbeddings(Counting(), cache_folder(split))
    assert embeddings(read_split(split)).shape == (2, 3)
    assert embeddings.file is None


def test_log_mel_statistics():
    mel = LogMelStats()
    quiet, loud = torch.from_numpy(0.1 * tone(60, 1.0)), torch.from_numpy(tone(60, 1.0))
    out = mel.embed_audio(torch.stack([quiet, loud]), 16000)
    assert out.shape == (2, 128) and torch.all(out[1, :64] >= out[0, :64] - 1e-3)
    resampled = mel.embed_audio(torch.from_numpy(tone(60, 1.0, rate=44100))[None], 44100)
    assert torch.allclose(resampled[0, :64], out[1, :64], atol=0.5)
