"""config.toml: every key documented with its default; bad files refused naming the key."""

import tomllib
from dataclasses import fields, is_dataclass
from pathlib import Path

import pytest

from livesampler.config import Config, ConfigError, load_config, parse_config

SHIPPED = Path(__file__).resolve().parent.parent / "config.toml"


def keys_of(cls, prefix=""):
    for f in fields(cls):
        if f.metadata.get("internal"):
            continue
        if is_dataclass(f.type) or (isinstance(f.default_factory, type) and is_dataclass(f.default_factory)):
            yield from keys_of(f.default_factory, prefix + f.name + ".")
        else:
            yield prefix + f.name


def flatten(table, prefix=""):
    for k, v in table.items():
        if isinstance(v, dict):
            yield from flatten(v, prefix + k + ".")
        else:
            yield prefix + k, v


def test_shipped_config_lists_every_key_with_its_default():
    shipped = dict(flatten(tomllib.loads(SHIPPED.read_text())))
    assert set(shipped) == set(keys_of(Config))
    defaults = Config()
    for key, value in shipped.items():
        if key == "instruments.slots":
            continue  # the shipped file names the instrument install.sh builds
        section, name = key.split(".")
        if isinstance(value, list):
            value = tuple(value)  # TOML lists are read into tuples, so that a config is immutable
        assert getattr(getattr(defaults, section), name) == value, key


def test_shipped_config_comments_every_key():
    lines = SHIPPED.read_text().splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.lstrip().startswith("#"):
            assert lines[i - 1].lstrip().startswith("#") or lines[i - 2].lstrip().startswith("#"), line


def test_shipped_config_loads(tmp_path):
    config = load_config(SHIPPED)
    assert config.engine.polyphony == 64 and config.root == SHIPPED.parent
    assert config.path(config.cache.dir) == SHIPPED.parent / "cache"


@pytest.mark.parametrize(
    "text, key",
    [
        ("[engine]\npolyfony = 3", "engine.polyfony"),
        ("[engin]\npolyphony = 3", "engin"),
        ("[engine]\npolyphony = 'many'", "engine.polyphony"),
        ("[engine]\npolyphony = 2.5", "engine.polyphony"),
        ("[engine]\npolyphony = 0", "engine.polyphony"),
        ("[engine]\npolyphony = true", "engine.polyphony"),
        ("[engine]\nrelease = 'long'", "engine.release"),
        ("[midi]\napi = 'carrier pigeon'", "midi.api"),
        ("[midi]\nchannel = 17", "midi.channel"),
        ("[audio]\nlatency = 'fast'", "audio.latency"),
        ("[instruments]\nslots = 'a.sfz'", "instruments.slots"),
        ("[instruments]\nslots = [1]", "instruments.slots[0]"),
        ("engine = 3", "engine"),
    ],
)
def test_bad_values_name_the_key(text, key):
    with pytest.raises(ConfigError) as err:
        parse_config(text)
    message = str(err.value)
    assert f"'{key}'" in message and "\n" not in message


def test_partial_file_keeps_defaults():
    config = parse_config("[engine]\npolyphony = 256\nrelease = 1")
    assert config.engine.polyphony == 256 and config.engine.release == 1.0
    assert config.audio.sample_rate == 48000


def test_latency_in_seconds():
    assert parse_config("[audio]\nlatency = 0.01").audio.latency == 0.01


def test_malformed_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_config("[engine\n")
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
