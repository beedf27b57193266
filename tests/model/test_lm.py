import pytest
import torch

from livesampler.model import ModelError
from livesampler.model.conditions import Conditions
from livesampler.model.lm import LanguageModel, LMConfig, preset

from .conftest import tiny_lm_config


def conditions(batch=2):
    return Conditions.make([60 + i for i in range(batch)], [100] * batch, clap=torch.randn(512))


def test_shapes(tiny_lm):
    inputs = torch.randint(0, 17, (2, 3, 10))
    assert tiny_lm(inputs, conditions()).shape == (2, 3, 10, 16)
    loss, per_codebook = tiny_lm.loss(torch.randint(0, 16, (2, 3, 8)), conditions())
    assert loss.ndim == 0 and per_codebook.shape == (3,)


def test_presets():
    paper = LanguageModel(preset("paper"))
    print(f"paper LM: {paper.num_parameters() / 1e6:.1f}M parameters")
    assert 55e6 < paper.num_parameters() < 65e6
    assert LanguageModel(preset("pocket")).num_parameters() < 8e6
    assert preset("pocket", num_codebooks=6).num_codebooks == 6
    with pytest.raises(ModelError, match="unknown LM preset"):
        preset("huge")


def test_config_round_trip_and_validation():
    cfg = tiny_lm_config(objective="masked")
    assert LMConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ModelError, match="objective"):
        tiny_lm_config(objective="diffusion")
    with pytest.raises(ModelError, match="unknown LM config keys"):
        LMConfig.from_dict({**cfg.to_dict(), "rotary": True})


def test_no_step_sees_the_future(tiny_lm):
    inputs = torch.randint(0, 17, (1, 3, 12))
    changed = inputs.clone()
    changed[:, :, 7:] = torch.randint(0, 17, (1, 3, 5))
    c = conditions(1)
    before, after = tiny_lm(inputs, c), tiny_lm(changed, c)
    assert torch.allclose(before[:, :, :7], after[:, :, :7], atol=1e-6)
    assert not torch.allclose(before[:, :, 7:], after[:, :, 7:])


def test_masked_objective_sees_both_ways():
    torch.manual_seed(0)
    lm = LanguageModel(tiny_lm_config(objective="masked")).eval()
    inputs = torch.randint(0, 17, (1, 3, 12))
    changed = inputs.clone()
    changed[:, :, 11] = (inputs[:, :, 11] + 1) % 16
    assert not torch.allclose(lm(inputs, conditions(1))[:, :, 0], lm(changed, conditions(1))[:, :, 0])
    loss, per_codebook = lm.loss(torch.randint(0, 16, (4, 3, 8)), conditions(4), torch.Generator().manual_seed(0))
    assert loss.ndim == 0 and per_codebook.shape == (3,)


def test_guidance_scales_1_and_0_are_the_conditional_and_unconditional_models(tiny_lm):
    inputs = torch.randint(0, 17, (2, 3, 6))
    c = conditions()
    cond, uncond = tiny_lm(inputs, c), tiny_lm(inputs, c.null())
    assert not torch.allclose(cond, uncond)
    assert torch.allclose(tiny_lm.guided_logits(inputs, c, 1.0), cond, atol=1e-5)
    assert torch.allclose(tiny_lm.guided_logits(inputs, c, 0.0), uncond, atol=1e-5)
    assert torch.allclose(tiny_lm.guided_logits(inputs, c, 3.0), uncond + 3 * (cond - uncond), atol=1e-4)


def test_cached_steps_equal_the_full_forward(tiny_lm):
    inputs = torch.randint(0, 17, (2, 3, 9))
    c = conditions()
    full = tiny_lm(inputs, c)
    cache = tiny_lm.new_cache(9)
    first = tiny_lm(inputs[:, :, :4], c, cache)  # a prefix in one call, then one step at a time
    steps = [tiny_lm(inputs[:, :, s:s + 1], c, cache) for s in range(4, 9)]
    assert torch.allclose(torch.cat([first, *steps], dim=2), full, atol=1e-5)
    with pytest.raises(ModelError, match="KV cache"):
        tiny_lm(inputs[:, :, :1], c, cache)


def test_a_reference_note_conditions_every_step_and_the_cache_agrees():
    from livesampler.model.sampling import SamplerSettings, generate_autoregressive

    torch.manual_seed(0)
    lm = LanguageModel(preset("pocket", num_codebooks=3, codebook_size=64, dim=64, num_heads=4, num_layers=2,
                              reference_frames=10, reference_sum=True, condition_sum=True)).eval()
    ref = torch.randint(0, 64, (3, 10))
    c = Conditions.make([60, 62], [100, 100], clap=torch.randn(512), reference=ref, reference_pitch=60)
    inputs = torch.randint(0, 64, (2, 3, 12))
    with torch.no_grad():
        base = lm(inputs, c)
        other = lm(inputs, c.replace(reference=torch.randint(0, 64, (2, 3, 10))))
        none = lm(inputs, c.replace(has_reference=torch.zeros(2, dtype=torch.bool)))
    # from the first step on, and at init, the reference moves the predictions
    assert (base - other)[:, :, 0].abs().mean() > 1e-3 and (base - none).abs().mean() > 1e-3
    settings = SamplerSettings(top_k=5, seed=1, guidance_scale=2.0)
    cached = generate_autoregressive(lm, c, 14, settings, torch.Generator().manual_seed(1))
    full = generate_autoregressive(lm, c, 14, settings, torch.Generator().manual_seed(1), use_cache=False)
    assert torch.equal(cached, full) and cached.shape == (2, 3, 14)  # longer than the reference: it ends, no error
    with pytest.raises(ModelError, match="pitch"):
        Conditions.make([60], [100], reference=ref)
