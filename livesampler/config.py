"""Settings: one tree of frozen dataclasses read from ``config.toml``.

Every key has a default here and a comment in the shipped ``config.toml``. A
file may leave keys out; a key that is not known here, or a value of the wrong
type or out of range, is refused with a one-line ``ConfigError`` that names the
dotted key, so a typo never silently falls back to a default. Each part of the
program receives only its own subtree (``Engine(cfg.engine, ...)``).
"""

from __future__ import annotations

import tomllib
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path


class ConfigError(Exception):
    """A config file that cannot be used; the message names the key."""


def _setting(default, *, low=None, high=None, choices=None):
    """A field with its allowed values, checked when a file is loaded."""
    return field(default=default, metadata={"low": low, "high": high, "choices": choices})


@dataclass(frozen=True)
class AudioConfig:
    device: str = ""  # output device by exact name or unique substring; "" = system default
    sample_rate: int = _setting(48000, low=8000, high=192000)
    block_size: int = _setting(128, low=16, high=8192)  # frames per audio callback
    latency: float | str = "low"  # "low", "high" or seconds, passed to PortAudio
    hold_cpus_awake: bool = True  # while playing, keep idle cores out of deep sleep (Linux PM QoS)


@dataclass(frozen=True)
class MidiConfig:
    api: str = _setting("alsa", choices=("alsa", "jack", "coremidi", "windows"))
    port: str = ""  # input port by exact name or unique substring; "" = a virtual port
    virtual_name: str = "livesampler"  # name of the virtual input port
    channel: int = _setting(0, low=0, high=16)  # 1-16 listens to one channel, 0 = omni


@dataclass(frozen=True)
class EngineConfig:
    polyphony: int = _setting(64, low=1, high=1024)
    release: float = _setting(0.25, low=0.0, high=30.0)  # seconds, for instruments that set none
    fade_ms: float = _setting(5.0, low=0.5, high=100.0)  # fade of stolen and cut voices
    pitch_bend_range: float = _setting(2.0, low=0.0, high=48.0)  # semitones, until RPN 0 says otherwise
    velocity_exponent: float = _setting(2.0, low=0.0, high=8.0)  # gain = (velocity / 127) ** exponent
    gain_db: float = _setting(-6.0, low=-60.0, high=24.0)  # master gain before the limiter
    limiter_threshold: float = _setting(0.8, low=0.1, high=0.99)  # soft limiter knee (full scale = 1)


@dataclass(frozen=True)
class CacheConfig:
    dir: str = "cache"  # relative to the config file's folder
    ram_budget_mb: int = _setting(1024, low=16, high=1 << 20)
    # After a switch, a key plays the instrument heard before until the new one has a note this near.
    switch_semitones: int = _setting(6, low=0, high=87)


@dataclass(frozen=True)
class GeneratorConfig:
    threads: int = _setting(1, low=1, high=256)  # CPU threads of the model
    nice: int = _setting(10, low=0, high=19)  # the generator process's priority below the host's
    batch_size: int = _setting(1, low=1, high=1024)  # notes per call of the model


@dataclass(frozen=True)
class PrefetchConfig:
    policy: str = _setting("prefetch", choices=("prefetch", "on_demand"))
    anchor_step: int = _setting(12, low=0, high=88)  # semitones between anchor keys; 0: none
    radius: int = _setting(7, low=0, high=12)  # semitones around played keys fetched ahead
    octaves: bool = True  # also fetch played pitch classes an octave or two away
    history: int = _setting(32, low=1, high=4096)  # recent note-ons the prediction looks at
    fill: str = _setting("all", choices=("all", "played"))  # then the whole instrument, or stop


@dataclass(frozen=True)
class InstrumentsConfig:
    # SFZ files, relative to the config file's folder; program change N selects slot N.
    slots: tuple[str, ...] = ()
    # Generated instruments' prompts, after those given to `play --prompt`; see config.toml.
    prompts: tuple[str, ...] = ()


@dataclass(frozen=True)
class TakesConfig:
    # MIDI that changes the take (the seed) of the instrument being played; -1: none.
    new_cc: int = _setting(102, low=-1, high=127)  # a control change, at values of 64 and up
    previous_cc: int = _setting(103, low=-1, high=127)
    next_cc: int = _setting(104, low=-1, high=127)
    new_program: int = _setting(-1, low=-1, high=127)  # a program change that no slot uses


@dataclass(frozen=True)
class ModelConfig:
    codec: str = _setting("hnc", choices=("dac", "hnc"))  # codec family of codec_weights
    codec_weights: str = "models/pocket_codec"  # dac: weights file; hnc: model folder; relative to the config
    clap: str = _setting("pocket", choices=("pocket", "laion"))  # CLAP backend
    clap_path: str = "models/pocket_clap"  # pocket: model folder; laion: checkpoint .pt
    laion_text_dir: str = "models/roberta-base"  # laion: roberta-base's config.json, vocab.json, merges.txt
    laion_audio_model: str = _setting("HTSAT-base", choices=("HTSAT-base", "HTSAT-tiny"))
    lm_checkpoint: str = "models/pocket_lm"  # folder with model.safetensors and config.json
    device: str = _setting("auto", choices=("auto", "cpu", "cuda"))  # auto = cuda if available
    sampler: str = _setting("autoregressive", choices=("autoregressive", "magnet"))
    top_k: int = _setting(250, low=1, high=1 << 16)  # 1 = greedy
    temperature: float = _setting(1.0, low=0.0, high=10.0)
    guidance_scale: float = _setting(3.0, low=0.0, high=20.0)  # 1 = no classifier-free guidance
    seed: int = _setting(0, low=0, high=(1 << 63) - 1)
    max_batch: int = _setting(64, low=1, high=4096)  # notes per forward pass
    magnet_steps: int = _setting(10, low=1, high=256)  # MAGNeT passes per codebook
    note_seconds: float = _setting(4.0, low=0.1, high=30.0)  # length of a generated note


@dataclass(frozen=True)
class Config:
    audio: AudioConfig = field(default_factory=AudioConfig)
    midi: MidiConfig = field(default_factory=MidiConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    prefetch: PrefetchConfig = field(default_factory=PrefetchConfig)
    instruments: InstrumentsConfig = field(default_factory=InstrumentsConfig)
    takes: TakesConfig = field(default_factory=TakesConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    root: Path = field(default=Path("."), metadata={"internal": True})  # folder relative paths start from

    def path(self, value: str) -> Path:
        """A path from the config, resolved against the config file's folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.root / p


def _type_name(tp) -> str:
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if typing.get_origin(tp) is tuple:
        return f"a list of {_type_name(typing.get_args(tp)[0]).split(' ', 1)[1]}s"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(tp, str(tp))


def _coerce(value, tp, key: str):
    """``value`` as type ``tp``, or a ConfigError naming ``key``."""
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        for option in typing.get_args(tp):
            try:
                return _coerce(value, option, key)
            except ConfigError:
                pass
    elif origin is tuple:
        if isinstance(value, list):
            return tuple(_coerce(v, typing.get_args(tp)[0], f"{key}[{i}]") for i, v in enumerate(value))
    elif tp is float:
        # TOML writes 2 for 2.0; a bool is not a number here.
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(value, tp):
        return value
    raise ConfigError(f"config key '{key}' must be {_type_name(tp)}, got {value!r}")


def _build(cls, table: dict, prefix: str):
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in fields(cls) if not f.metadata.get("internal")}
    for name in table:
        if name not in known:
            raise ConfigError(f"unknown config key '{prefix}{name}' (known here: {', '.join(known)})")
    kwargs = {}
    for name, f in known.items():
        if name not in table:
            continue
        key, tp, value = prefix + name, hints[name], table[name]
        if is_dataclass(tp):
            if not isinstance(value, dict):
                raise ConfigError(f"config key '{key}' must be a table [{key}]")
            kwargs[name] = _build(tp, value, key + ".")
            continue
        value = _coerce(value, tp, key)
        low, high, choices = f.metadata.get("low"), f.metadata.get("high"), f.metadata.get("choices")
        if low is not None and not low <= value <= high:
            raise ConfigError(f"config key '{key}' must be between {low} and {high}, got {value!r}")
        if choices and value not in choices:
            raise ConfigError(f"config key '{key}' must be one of {', '.join(choices)}, got {value!r}")
        kwargs[name] = value
    return cls(**kwargs)


def parse_config(text: str, root: Path = Path("."), source: str = "config") -> Config:
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source} is not valid TOML: {e}") from None
    config = _build(Config, table, "")
    latency = config.audio.latency
    if isinstance(latency, str) and latency not in ("low", "high"):
        raise ConfigError(f"config key 'audio.latency' must be \"low\", \"high\" or seconds, got {latency!r}")
    return replace(config, root=root.resolve())


def load_config(path: str | Path | None = None) -> Config:
    """Read ``path``; without one, ``./config.toml`` if it exists, else the defaults."""
    if path is None:
        default = Path("config.toml")
        if not default.is_file():
            return replace(Config(), root=Path.cwd())
        path = default
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist (give an existing file with --config)") from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    return parse_config(text, root=path.parent, source=str(path))
