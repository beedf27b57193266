import pytest
import torch

from livesampler.model.checkpoint import CheckpointError
from livesampler.model.clap import ClapError, LaionClap, PocketClap, PocketClapConfig, load_clap

from .conftest import fake_text_encoder

SMALL = PocketClapConfig(n_mels=32, channels=(8, 16))


def test_pocket_shapes_and_unit_length():
    torch.manual_seed(0)
    clap = PocketClap(SMALL, fake_text_encoder).eval()
    audio = clap.embed_audio(0.1 * torch.randn(3, 44100), 44100)  # resampled to 16 kHz inside
    text = clap.embed_text(["warm analog pad", "nylon guitar"])
    assert audio.shape == (3, 512) and text.shape == (2, 512)
    assert torch.allclose(audio.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert torch.allclose(text.norm(dim=-1), torch.ones(2), atol=1e-5)
    # training path: gradients reach the audio encoder and the text projection
    loss = (clap.audio_embedding(0.1 * torch.randn(2, 16000), 16000) * clap.text_embedding(["a", "b"])).sum()
    loss.backward()
    assert clap.blocks[0].conv1.weight.grad is not None and clap.text_projection[0].weight.grad is not None


def test_pocket_save_and_load(tmp_path):
    torch.manual_seed(0)
    clap = PocketClap(SMALL, fake_text_encoder).eval()
    clap.save(tmp_path / "clap")
    assert clap.id.startswith("pocket-clap-")
    loaded = PocketClap.load(tmp_path / "clap", text_encoder=fake_text_encoder)
    assert loaded.cfg == SMALL and loaded.id == clap.id
    audio = 0.1 * torch.randn(1, 16000)
    assert torch.equal(loaded.embed_audio(audio, 16000), clap.embed_audio(audio, 16000))
    assert torch.equal(loaded.embed_text(["bell"]), clap.embed_text(["bell"]))


def test_pocket_errors(tmp_path):
    with pytest.raises(CheckpointError, match="pocket CLAP .* does not exist"):
        load_clap("pocket", tmp_path / "nope")
    with pytest.raises(ClapError, match="backend must be one of pocket, laion"):
        load_clap("openai", tmp_path)


@pytest.mark.slow
def test_pocket_with_the_real_text_encoder():
    """MiniLM from its wheel: no download, 384-d in, 512-d out."""
    clap = PocketClap(SMALL).eval()
    text = clap.embed_text(["warm analog pad", "warm analog pad", "distorted bass"])
    assert text.shape == (3, 512)
    assert torch.allclose(text[0], text[1]) and not torch.allclose(text[0], text[2])


def test_laion_missing_checkpoint(tmp_path):
    with pytest.raises(ClapError, match="LAION-CLAP checkpoint .* does not exist"):
        LaionClap.load(tmp_path / "music.pt", tmp_path)


def test_laion_missing_text_files(tmp_path):
    ckpt = tmp_path / "music.pt"
    ckpt.write_bytes(b"x")
    (tmp_path / "roberta").mkdir()
    (tmp_path / "roberta" / "config.json").write_text("{}")
    with pytest.raises(ClapError, match="lacks vocab.json, merges.txt: expected roberta-base's"):
        LaionClap.load(ckpt, tmp_path / "roberta")


def test_laion_without_the_extra_says_how_to_install(tmp_path):
    pytest.importorskip("transformers")
    try:
        import laion_clap  # noqa: F401
        pytest.skip("laion-clap is installed here")
    except ImportError:
        pass
    ckpt = tmp_path / "music.pt"
    ckpt.write_bytes(b"x")
    for name in ("config.json", "vocab.json", "merges.txt"):
        (tmp_path / name).write_text("{}")
    with pytest.raises(ClapError, match=r"needs the laion extra: pip install -e '.\[laion\]'"):
        LaionClap.load(ckpt, tmp_path)


def roberta_files(folder):
    """roberta-base's config with 2 layers instead of 12, and a toy byte-level BPE vocabulary."""
    import json

    folder.mkdir()
    config = {"model_type": "roberta", "architectures": ["RobertaModel"], "vocab_size": 50265, "hidden_size": 768,
              "num_hidden_layers": 2, "num_attention_heads": 12, "intermediate_size": 3072,
              "max_position_embeddings": 514, "type_vocab_size": 1, "layer_norm_eps": 1e-5, "pad_token_id": 1,
              "bos_token_id": 0, "eos_token_id": 2}
    (folder / "config.json").write_text(json.dumps(config))
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3} | {c: 4 + i for i, c in enumerate("abcdefghijklmnop")}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return folder


@pytest.mark.slow
def test_laion_builds_and_loads_from_local_files_only(tmp_path):
    """Where the laion extra is installed: no hub, a checkpoint in LAION's layout, both heads."""
    import importlib.util

    if importlib.util.find_spec("laion_clap") is None:
        pytest.skip("the optional laion extra is not installed")
    from livesampler.model.clap import build_laion_module

    text_dir = roberta_files(tmp_path / "roberta")
    module = build_laion_module(text_dir, "HTSAT-tiny")
    ckpt = tmp_path / "clap.pt"
    torch.save({"epoch": 1, "state_dict": {"module." + k: v for k, v in module.model.state_dict().items()}}, ckpt)
    clap = LaionClap.load(ckpt, text_dir, "HTSAT-tiny")
    assert clap.id.startswith("laion-clap-")
    text = clap.embed_text(["abc"])
    audio = clap.embed_audio(0.1 * torch.randn(2, 16000), 16000)
    assert text.shape == (1, 512) and audio.shape == (2, 512)
    assert torch.allclose(audio.norm(dim=-1), torch.ones(2), atol=1e-5)
    with pytest.raises(ClapError, match="do not fit HTSAT-base"):
        LaionClap.load(ckpt, text_dir, "HTSAT-base")
