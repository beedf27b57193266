import pytest
import torch

from livesampler.model import ModelError
from livesampler.model.conditions import NULL, ConditionDropout, ConditionEncoder, Conditions, velocity_layer


def test_make_maps_midi_values_to_indices():
    c = Conditions.make([21, 108], [127, 30], families=[4, NULL], clap=torch.ones(512))
    assert c.pitch.tolist() == [0, 87]
    assert c.velocity.tolist() == [4, 0]
    assert c.family.tolist() == [4, NULL] and c.source.tolist() == [NULL, NULL]
    assert c.clap.shape == (2, 512) and c.has_clap.all()


def test_clap_shape_is_checked():
    assert Conditions.make([60, 62], clap=torch.randn(2, 512)).clap.shape == (2, 512)
    for bad in (torch.randn(384), torch.randn(3, 512)):
        with pytest.raises(ModelError, match="CLAP embedding must be"):
            Conditions.make([60, 62], clap=bad)


def test_velocity_layers():
    assert [velocity_layer(v) for v in (1, 25, 37, 38, 100, 127)] == [0, 0, 0, 1, 3, 4]


@pytest.mark.parametrize("kwargs", [dict(pitches=[20]), dict(pitches=[109]), dict(pitches=[60], velocities=[0]),
                                    dict(pitches=[60], families=[11]), dict(pitches=[60, 61], velocities=[1])])
def test_out_of_range_is_refused(kwargs):
    with pytest.raises(ModelError):
        Conditions.make(**kwargs)


def test_null_conditions_use_the_null_embeddings():
    encoder = ConditionEncoder(8)
    c = Conditions.make([60, 72], [100, 50], clap=torch.randn(512))
    tokens = encoder(c.null())
    assert tokens.shape == (2, 5, 8)
    assert torch.equal(tokens[0], tokens[1])  # nothing left to tell the notes apart
    assert torch.equal(tokens[0, 4], encoder.clap_null)


def test_dropout_is_seeded_and_only_in_training():
    c = Conditions.make(list(range(21, 109)), [100] * 88, clap=torch.randn(512))
    a, b = ConditionDropout(0.3, seed=1).train(), ConditionDropout(0.3, seed=1).train()
    da, db = a(c), b(c)
    assert torch.equal(da.pitch, db.pitch) and torch.equal(da.has_clap, db.has_clap)
    assert 0 < (da.pitch == NULL).sum() < 88
    assert torch.equal(a.eval()(c).pitch, c.pitch)
