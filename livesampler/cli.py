"""The ``livesampler`` command: a thin layer over the library.

Every error a user can cause ends in one line on stderr (``fatal``) and exit
status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
import threading
import time
from pathlib import Path

from livesampler.config import Config, ConfigError, load_config

DEMO_MIDI = Path(__file__).parent / "assets" / "demo.mid"
ALL_NOTES = 440  # 88 keys x 5 velocity layers


class CliError(Exception):
    pass


def fatal(message: str) -> None:
    print(f"livesampler: error: {message}", file=sys.stderr)
    sys.exit(2)


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="livesampler", description="Real-time sampler for generated instruments.")
    p.add_argument("--config", type=Path, help="config file (default: ./config.toml, else the shipped one)")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("devices", help="list MIDI inputs and audio outputs")

    play = sub.add_parser("play", help="play live: MIDI in, audio out")
    play.add_argument("--instrument", action="append", type=Path, metavar="FILE.sfz",
                      help="instrument for program 0 (repeat for programs 1, 2, ...); default: config slots")
    play.add_argument("--prompt", action="append", metavar="TEXT",
                      help="generate the instrument from this text (repeat for programs 1, 2, ...; "
                           "instruments.prompts follow); type a new prompt while playing to replace it")
    play.add_argument("--reference", type=Path, metavar="SOUND.wav",
                      help="generate the instrument from a reference sound (program 0, before any --prompt)")
    play.add_argument("--seed", type=int, metavar="N",
                      help="the take of --prompt/--reference to start with (default: model.seed)")
    play.add_argument("--set", type=Path, metavar="SET.toml",
                      help="play a set list: its slots are programs 0, 1, ... (see `livesampler prepare`)")
    play.add_argument("--midi-port", help="MIDI input by exact name or unique substring (default: a virtual port)")
    play.add_argument("--audio-device", help="audio output by exact name or unique substring")
    play.add_argument("--midi-file", type=Path, help="also play this MIDI file into the engine, in real time")
    play.add_argument("--seconds", type=float, help="stop after this long (default: Ctrl-C)")

    render = sub.add_parser("render", help="render a MIDI file to WAV offline, through SFZ instruments or prompts")
    render.add_argument("midi", type=Path, metavar="SONG.mid")
    render.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.wav")
    render.add_argument("--instrument", action="append", type=Path, metavar="FILE.sfz")
    render.add_argument("--prompt", action="append", metavar="TEXT",
                        help="through the instrument this prompt generates (repeat for programs 1, 2, ...); the "
                             "notes the piece plays that the cache lacks are made first")
    render.add_argument("--reference", type=Path, metavar="SOUND.wav",
                        help="through the instrument generated from this sound (program 0, before any --prompt)")
    render.add_argument("--seed", type=int, metavar="N", help="the take of --prompt/--reference (default: model.seed)")
    render.add_argument("--set", type=Path, metavar="SET.toml", help="through the instruments of a set list")
    render.add_argument("--block-size", type=int, help="frames per block (default: audio.block_size)")

    prepare = sub.add_parser("prepare", help="make every note of a set list's instruments ahead of time",
                             description="Generate every note (88 keys x 5 velocity layers) of each instrument "
                                         "of a set list into the cache, so that playing it generates nothing. "
                                         "Notes already there are skipped: stop it any time and run it again.")
    prepare.add_argument("set", type=Path, metavar="SET.toml")
    prepare.add_argument("--pitches", default="21-108", help="only these MIDI pitches (default: 21-108, all)")
    prepare.add_argument("--velocities", default="25,50,75,100,127",
                         help="only these velocity layers (default: all five, 25,50,75,100,127)")

    font = sub.add_parser("soundfont", help="convert a General MIDI soundfont into SFZ instruments (Polyphone)")
    font.add_argument("font", type=Path, metavar="FONT.sf2")
    font.add_argument("-o", "--output", type=Path, required=True, metavar="DIR")
    font.add_argument("--force", action="store_true", help="convert again even if DIR already has it")

    dataset = sub.add_parser("dataset", help="note sets in NSynth's format: render them from soundfonts, count them")
    dataset_sub = dataset.add_subparsers(dest="action", required=True)
    rs = dataset_sub.add_parser("render-soundfont", help="render a General MIDI soundfont as NSynth notes")
    rs.add_argument("font", type=Path, metavar="FONT.sf2|.sf3")
    rs.add_argument("-o", "--output", type=Path, required=True, metavar="DIR",
                    help="the note set's folder; a second run adds what is missing")
    rs.add_argument("--programs", default="0-127",
                    help="GM programs of bank 0, e.g. 0,40-47 (default: all with an NSynth family)")
    rs.add_argument("--pitches", default="21-108", help="MIDI pitches (default: 21-108)")
    rs.add_argument("--velocities", default="25,50,75,100,127", help="(default: NSynth's 25,50,75,100,127)")
    rs.add_argument("--sample-rate", type=int, default=16000, help="Hz (default: 16000, as NSynth)")
    info = dataset_sub.add_parser("info", help="notes, instruments and families of each split of a note set")
    info.add_argument("folder", type=Path, metavar="DIR", help="NSynth's folder or one rendered here")

    cache = sub.add_parser("cache", help="see or free the generated instruments on disk")
    cache_sub = cache.add_subparsers(dest="action", required=True)
    cache_sub.add_parser("list", help="one line per instrument: id, notes made, size, prompt")
    show = cache_sub.add_parser("show", help="an instrument's settings and which keys exist")
    show.add_argument("id", help="the id, or its first characters")
    clear = cache_sub.add_parser("clear", help="delete instruments from the cache")
    clear.add_argument("id", nargs="*", help="ids, or their first characters")
    clear.add_argument("--all", action="store_true", help="delete every instrument")

    export = sub.add_parser("export", help="write a generated instrument as an SFZ and Decent Sampler library",
                            description="Write a generated instrument (from the cache) as WAV files, an SFZ "
                                        "file that SFZ players and DAW samplers load, and a Decent Sampler preset. "
                                        "Name it by its cache id (`cache list`), or by the prompt or reference "
                                        "sound that made it.")
    export.add_argument("id", nargs="?", help="the instrument's id, or its first characters")
    export.add_argument("--prompt", help="the instrument this prompt makes with the configured model")
    export.add_argument("--reference", type=Path, metavar="FILE",
                        help="the instrument this reference sound makes with the configured model")
    export.add_argument("-o", "--output", type=Path, default=Path("exported"), metavar="DIR",
                        help="the library goes in DIR/<name>/ (default: exported)")
    export.add_argument("--complete", action="store_true",
                        help="first generate the notes the cache lacks, with the configured model")
    export.add_argument("--pitches", default="21-108", help="MIDI pitches to export (default: 21-108)")
    export.add_argument("--velocities", default="25,50,75,100,127",
                        help="velocity layers to export (default: all five, 25,50,75,100,127)")
    export.add_argument("--bits", choices=("16", "24", "float"), default="24",
                        help="sample format of the WAV files (default: 24-bit)")
    export.add_argument("--force", action="store_true", help="replace an earlier export in the same folder")

    prep = dataset_sub.add_parser("prepare", help="codec codes and CLAP embeddings of every note of a note set")
    prep.add_argument("data", type=Path, metavar="DIR", help="a note set in NSynth's layout (one split, or split folders)")
    prep.add_argument("-o", "--out", type=Path, required=True, metavar="FEATURES",
                      help="features folder; notes already in it are kept, new ones appended")
    prep.add_argument("--codec", type=Path, metavar="PATH", help="codec weights (default: model.codec_weights)")
    prep.add_argument("--codec-family", choices=("dac", "hnc"), help="default: model.codec")
    prep.add_argument("--clap", type=Path, metavar="PATH", help="CLAP model (default: model.clap_path)")
    prep.add_argument("--batch-size", type=int, default=16)
    prep.add_argument("--max-notes", type=int, metavar="N",
                      help="encode N notes spread evenly over the set (every instrument, its pitches and "
                           "velocities in turn) instead of all")
    prep.add_argument("--device", default="auto", help="auto (cuda if there is one), cpu or cuda")

    train = sub.add_parser("train", help="train the models on a note set")
    train_sub = train.add_subparsers(dest="what", required=True)
    lm = train_sub.add_parser("lm", help="the codec language model, on features from `dataset prepare`")
    lm.add_argument("--data", type=Path, required=True, metavar="FEATURES", help="a folder made by `dataset prepare`")
    lm.add_argument("-o", "--out", type=Path, required=True, metavar="DIR",
                    help="checkpoint, log and sample notes; an existing checkpoint there is resumed")
    lm.add_argument("--preset", choices=("pocket", "paper"), default="pocket")
    lm.add_argument("--clap-scheme", choices=("baseline", "random", "fixed"), default="baseline")
    lm.add_argument("--objective", choices=("autoregressive", "masked"), default="autoregressive",
                    help="masked trains for the MAGNeT sampler")
    lm.add_argument("--steps", type=int, default=20000)
    lm.add_argument("--batch-size", type=int, default=16, help="notes per step, over all processes")
    lm.add_argument("--lr", type=float, default=3e-4)
    lm.add_argument("--warmup", type=int, default=500)
    lm.add_argument("--eval-every", type=int, default=500, help="steps between validations and checkpoints")
    lm.add_argument("--seed", type=int, default=0)
    lm.add_argument("--condition-dropout", type=float, default=0.3,
                    help="share of notes trained with no condition, and with each condition missing (default: 0.3)")
    lm.add_argument("--condition-sum", action="store_true", help="also sum the conditions into every input step")
    lm.add_argument("--reference", action="store_true",
                    help="a reference encoder reads another note of the instrument (an in-context timbre)")
    lm.add_argument("--reference-dropout", type=float, default=0.3,
                    help="share of notes trained without their reference (default: 0.3)")
    lm.add_argument("--reference-sum", action="store_true",
                    help="with --reference: also sum the encoded reference into the inputs, frame by frame")
    lm.add_argument("--init-from", type=Path, metavar="CHECKPOINT",
                    help="start from this LM's weights where they fit (a new --out only)")
    lm.add_argument("--text-share", type=float, default=0.0,
                    help="share of notes conditioned on a caption's CLAP text embedding (default: 0)")
    lm.add_argument("--clap", type=Path, metavar="PATH",
                    help="the CLAP the features were made with, to embed captions (default: model.clap_path)")
    lm.add_argument("--device", default="auto", help="auto (cuda if there is one), cpu or cuda")
    lm.add_argument("--no-progress", action="store_true", help="no progress bar (logs)")
    train_codec = train_sub.add_parser("codec", help="fit the pocket harmonic-plus-noise codec (model.codec = \"hnc\")")
    train_codec.add_argument("--data", type=Path, required=True, metavar="DIR",
                             help="note set: DIR/examples.json and DIR/audio/<note>.wav")
    train_codec.add_argument("-o", "--out", type=Path, required=True, metavar="OUT", help="model folder to write")
    train_codec.add_argument("--max-notes", type=int, metavar="N", help="fit on N notes spread over the set")
    train_codec.add_argument("--hop", type=int, default=640,
                             help="samples per frame at 16 kHz (default: 640, 25 frames/s)")
    train_codec.add_argument("--codebooks", type=int, default=3, help="residual codebooks (default: 3)")
    train_codec.add_argument("--codebook-size", type=int, default=512, help="entries per codebook (default: 512)")
    train_codec.add_argument("--smooth-frames", type=int, default=3,
                             help="decoding: running median over this many frames after the attack, odd; 1 = none "
                                  "(default: 3)")

    clap = train_sub.add_parser("clap", help="the pocket CLAP, contrastively on note audio and captions of its metadata")
    clap.add_argument("--data", type=Path, required=True, metavar="DIR",
                      help="a note set in NSynth's layout (its train and valid splits)")
    clap.add_argument("-o", "--out", type=Path, required=True, metavar="DIR",
                      help="checkpoint (the model: model.clap_path = DIR/checkpoint) and log; an existing one is resumed")
    clap.add_argument("--steps", type=int, default=3000)
    clap.add_argument("--batch-size", type=int, default=48, help="instruments per step, one note of each")
    clap.add_argument("--lr", type=float, default=1e-3)
    clap.add_argument("--warmup", type=int, default=100)
    clap.add_argument("--eval-every", type=int, default=250, help="steps between validations and checkpoints")
    clap.add_argument("--channels", default="16,32,64,128,256", help="widths of the audio tower's conv blocks")
    clap.add_argument("--seed", type=int, default=0)
    clap.add_argument("--device", default="auto", help="auto (cuda if there is one), cpu or cuda")
    clap.add_argument("--no-progress", action="store_true", help="no progress bar (logs)")

    ev = sub.add_parser("eval", help="measure generated instruments against real held-out ones (see also eval real)",
                        description="Generate instruments for held-out notes (audio prompts) and text prompts, "
                                    "measure them and the real notes at the same keys, write a JSON file and a "
                                    "Markdown report. `eval real DIR` measures real notes alone.")
    ev.add_argument("--checkpoint", action="append", type=Path, metavar="LM",
                    help="LM checkpoint folder; repeat to compare several (default: model.lm_checkpoint)")
    ev.add_argument("--data", type=Path, metavar="DIR", help="note set in NSynth's layout with a test or valid split")
    ev.add_argument("--prompts", type=Path, metavar="FILE",
                    help="text prompts, one per line (default: the caption of each held-out instrument)")
    ev.add_argument("-o", "--out", type=Path, default=Path("eval-report"), metavar="OUT",
                    help="folder for eval.json, report.md and plots (default: eval-report)")
    ev.add_argument("--instruments", type=int, default=8, metavar="N", help="held-out instruments (default: 8)")
    _key_options(ev)
    ev.add_argument("--codec", type=Path, metavar="PATH", help="codec weights (default: model.codec_weights)")
    ev.add_argument("--codec-family", choices=("dac", "hnc"), help="default: model.codec")
    ev.add_argument("--clap", type=Path, metavar="PATH", help="CLAP model (default: model.clap_path)")
    ev.add_argument("--device", default="auto", help="auto (cuda if there is one), cpu or cuda")
    ev_sub = ev.add_subparsers(dest="action", metavar="real")
    real = ev_sub.add_parser("real", help="the measures on real notes of a note set: the ceiling")
    real.add_argument("data", type=Path, metavar="DIR", help="note set in NSynth's layout")
    real.add_argument("--json", action="store_true", help="print one JSON object instead of the summary")
    real.add_argument("--max-instruments", type=int, metavar="N", help="at most N instruments, spread over families")
    real.add_argument("--max-notes", type=int, metavar="N", help="at most N notes per instrument, spread over its keys")
    _key_options(real)
    real.add_argument("--clap", type=Path, metavar="PATH", help="CLAP model (default: model.clap_path)")
    real.add_argument("--device", default="auto", help="auto (cuda if there is one), cpu or cuda")

    demo = sub.add_parser("demo", help="play the shipped piece on the default instrument")
    demo.add_argument("-o", "--output", type=Path, default=Path("demo.wav"),
                      help="where to render it when there is no audio output (default: demo.wav)")
    return p


def _key_options(parser) -> None:
    parser.add_argument("--split", choices=("train", "valid", "test"), help="default: test, else valid")
    parser.add_argument("--pitches", default="24-96/4", help="MIDI pitches measured (default: 24-96/4, every 4th)")
    parser.add_argument("--velocities", default="100", help="velocities measured (default: 100)")
    parser.add_argument("--seed", type=int, default=0, help="instrument choice, mixes and sampling (default: 0)")
    parser.add_argument("--cache", type=Path, metavar="DIR",
                        help="where real notes' embeddings are kept (default: SPLIT/embeddings in the note set)")


def _config(args) -> Config:
    if args.config is None and not Path("config.toml").is_file():
        shipped = Path(__file__).resolve().parent.parent / "config.toml"
        if shipped.is_file():
            return load_config(shipped)
    return load_config(args.config)


def _instrument_paths(config: Config, given: list[Path] | None) -> list[Path]:
    paths = list(given) if given else [config.path(s) for s in config.instruments.slots]
    if not paths:
        raise CliError("no instrument: give --instrument FILE.sfz or list SFZ files in instruments.slots")
    for p in paths:
        if not p.is_file():
            hint = " (install.sh builds the default instruments)" if not given else ""
            raise CliError(f"instrument file {p} does not exist{hint}")
    return paths


def cmd_devices(config: Config) -> None:
    from livesampler.rt.audio import AudioError, list_outputs
    from livesampler.rt.midi import MidiError, list_inputs

    print(f"MIDI inputs (API {config.midi.api}):")
    try:
        names = list_inputs(config.midi.api)
        print("\n".join(f"  {n}" for n in names) or "  (none)")
    except MidiError as e:
        print(f"  {e}")
    print("Audio outputs:")
    try:
        outputs = list_outputs()
        for o in outputs:
            print(f"  [{o['index']}] {o['name']} ({o['hostapi']}, {o['channels']} ch, {o['sample_rate']:.0f} Hz)")
        if not outputs:
            print("  (none)")
    except AudioError as e:
        print(f"  {e}")


def _load(config: Config, given):
    from livesampler.rt.host import load_instruments

    paths = _instrument_paths(config, given)
    started = time.perf_counter()
    instruments, bank = load_instruments(paths, config.audio.sample_rate)
    mb = bank.used_frames * 4 / 2**20
    names = ", ".join(f"{i.name} ({len(i.regions)} regions)" for i in instruments)
    print(f"loaded {names}: {mb:.1f} MB of samples in {time.perf_counter() - started:.1f} s")
    return instruments, bank


def _prompt_specs(config: Config, args, source, with_config_prompts: bool = True) -> list:
    seed = config.model.seed if getattr(args, "seed", None) is None else args.seed
    specs = []
    if args.reference is not None:
        specs.append(source.spec(reference=str(args.reference), seed=seed))
    prompts = list(args.prompt or []) + (list(config.instruments.prompts) if with_config_prompts else [])
    for text in prompts:
        specs.append(source.spec(prompt=text, seed=seed))
    return specs


def _generated(config: Config, args, with_config_prompts: bool = True):
    """``(model source, instruments)`` of --set, or of --reference and --prompt: all checked before the model
    files are looked at, so a wrong prompt or set file is named first."""
    from livesampler.gen.model import ModelSource, configured_source
    from livesampler.gen.setlist import SetError, load_set

    try:
        if args.set is not None:
            slots = load_set(args.set)
            source = configured_source(config)
            specs = [slot.spec(source, config.model.seed) for slot in slots]
            for n, (slot, spec) in enumerate(zip(slots, specs)):
                if slot.id and slot.id != spec.id:
                    logging.getLogger(__name__).warning(
                        "%s: program %d (%r) was saved as instrument %s; config.toml's model files or sampling "
                        "settings make it instrument %s, another sound", args.set, n, spec.name, slot.id[:8],
                        spec.id[:8])
            return source, specs
        _prompt_specs(config, args, ModelSource(factory=None), with_config_prompts)
        source = configured_source(config)
        return source, _prompt_specs(config, args, source, with_config_prompts)
    except SetError as e:
        raise CliError(str(e)) from None
    except ValueError as e:
        raise CliError(f"{args.set}: {e}" if args.set is not None else str(e)) from None


def _prompt_host(config: Config, args):
    from livesampler.gen.host import PromptHost, check_take_controls

    source, specs = _generated(config, args)
    try:
        check_take_controls(config.takes, len(specs))
    except ValueError as e:
        raise CliError(str(e)) from None
    host = PromptHost(config, source, specs)
    host.loop.announce = lambda line: print(line, flush=True)
    for slot, spec in enumerate(specs):
        made = len(host.store.notes(spec.id))
        print(f"program {slot}: {spec.name!r} take {spec.seed} (id {spec.id[:8]}), {made} of {ALL_NOTES} notes "
              "already on disk")
    if args.set is not None and any(len(host.store.notes(s.id)) < ALL_NOTES for s in specs):
        print(f"not every note of the set is made: `livesampler prepare {args.set}` makes them ahead of time")
    return host


PROMPT_LINE_HELP = """a line of text is a new prompt for the instrument being played; @FILE is a reference sound
:take        a new take (the same prompt, another seed)
:take N      take N (the seed N); instant when it is on disk
:prev :next  the take with the next lower or higher seed (:next after the last is a new take)
:takes       the takes of the instrument being played that are on disk
:program N   select program slot N
:save FILE   save the session's slots as a set file (play --set FILE, prepare FILE)"""


def _read_prompts(host, stop: threading.Event) -> None:
    """Each line typed is a new prompt for the instrument being played, "@FILE" a reference sound, ":..." a command."""
    for line in sys.stdin:
        if stop.is_set():
            return
        line = line.strip()
        if not line:
            continue
        try:
            if line.startswith(":"):
                _prompt_command(host, line[1:].split(maxsplit=1))
            elif line.startswith("@"):
                host.new_prompt(reference=line[1:].strip())
            else:
                host.new_prompt(prompt=line)
        except ValueError as e:
            print(f"livesampler: {e}", file=sys.stderr)


def _prompt_command(host, words: list[str]) -> None:
    """One ":" command of the prompt line; ValueError says what is wrong with it."""
    from livesampler.gen.setlist import SetError

    command, rest = (words + [""])[0].lower(), (words[1] if len(words) > 1 else "").strip()
    if command == "take":
        if rest and not rest.isdigit():
            raise ValueError(f":take takes a seed (a whole number), not {rest!r}")
        host.take(int(rest) if rest else "new")
    elif command in ("prev", "next") and not rest:
        host.take("previous" if command == "prev" else "next")
    elif command == "takes":
        spec = host.loop.specs.get(host.loop.current)
        if spec is None:
            raise ValueError("no generated instrument is being played")
        takes = host.store.takes(spec)
        listed = ", ".join(f"{seed} ({made} notes)" for seed, made in takes.items()) or "none on disk yet"
        print(f"takes of {spec.name!r}: {listed}; playing take {spec.seed}", flush=True)
    elif command == "program":
        if not rest.isdigit() or int(rest) >= len(host.slots):
            raise ValueError(f":program takes a slot number, 0-{len(host.slots) - 1}")
        host.program(int(rest))
    elif command == "save" and rest:
        try:
            host.save_set(Path(rest).expanduser())
        except SetError as e:
            raise ValueError(str(e)) from None
        print(f"saved {len(host.slots)} slots to {rest}", flush=True)
    else:
        print(PROMPT_LINE_HELP, flush=True)


def _progress(host, last: list, every: float = 2.0) -> None:
    """A line when the generator has made notes since the last one, at most one every ``every`` seconds."""
    made, now = host.generator.made, time.monotonic()
    if made != last[0] and now - last[1] >= every:
        last[:] = [made, now]
        spec = host.loop.specs.get(host.loop.current)
        on_disk = host.loop.scheduler.ready_count if spec is not None else 0
        name = spec.name if spec is not None else "?"
        print(f"generator: {made} notes made this session; {name!r} has {on_disk} of {ALL_NOTES}", flush=True)


def cmd_play(config: Config, args) -> None:
    from dataclasses import replace

    from livesampler.rt.host import LiveHost
    from livesampler.rt.render import read_events

    if args.midi_port is not None:
        config = replace(config, midi=replace(config.midi, port=args.midi_port))
    if args.audio_device is not None:
        config = replace(config, audio=replace(config.audio, device=args.audio_device))
    if args.set is not None and (args.prompt or args.reference):
        raise CliError("give --set or --prompt/--reference, not both")
    if args.seed is not None and (args.seed < 0 or args.set is not None):
        raise CliError("--seed must be 0 or more, and goes with --prompt or --reference (a set names its own seeds)")
    prompted = bool(args.prompt or args.reference or args.set) or (not args.instrument
                                                                    and bool(config.instruments.prompts))
    if prompted and args.instrument:
        raise CliError("give --instrument or --prompt/--reference/--set, not both")
    events = read_events(args.midi_file, config.audio.sample_rate)[0] if args.midi_file else None
    if prompted:
        prompt_host = _prompt_host(config, args)
        host = prompt_host.host
    else:
        prompt_host = None
        instruments, bank = _load(config, args.instrument)
        host = LiveHost(config, instruments, bank)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    last = [0, 0.0]  # notes made, time of the last progress line
    try:
        (prompt_host or host).start()
        audio = host.audio
        print(f"playing: MIDI in {host.midi.name!r} ({config.midi.api}), audio out {audio.device_name!r} "
              f"at {audio.sample_rate} Hz, {config.audio.block_size}-frame blocks, "
              f"{audio.latency * 1e3:.1f} ms output latency. Ctrl-C stops.")
        if config.audio.hold_cpus_awake and not host.cpu_wake.held:
            print(f"cores not held awake ({host.cpu_wake.reason}): expect more dropouts; "
                  "see audio.hold_cpus_awake in the config")
        if prompt_host is not None:
            print("type a prompt and Enter to replace the instrument being played (@FILE for a reference sound; "
                  ":take for another take, :help for the rest)")
            threading.Thread(target=_read_prompts, args=(prompt_host, stop), name="livesampler-prompts",
                             daemon=True).start()
        if events is not None:
            player = threading.Thread(target=host.play_events, args=(events, stop), daemon=True)
            player.start()
        deadline = time.monotonic() + args.seconds if args.seconds is not None else None
        try:
            while not stop.wait(0.5 if prompt_host is None else 0.25):
                if prompt_host is not None:
                    if prompt_host.generator.failure:
                        raise CliError(f"the generator cannot run: {prompt_host.generator.failure}")
                    _progress(prompt_host, last)
                if deadline is not None:
                    if time.monotonic() >= deadline:
                        break
                elif events is not None and not player.is_alive():
                    stop.wait(2.0)  # the last release tails
                    break
        except KeyboardInterrupt:
            pass
    finally:
        stop.set()
        (prompt_host or host).close()
    stats = (prompt_host or host).stats()
    print("stopped: " + ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in stats.items()))


def cmd_render(config: Config, args) -> None:
    from livesampler.rt.engine import Engine
    from livesampler.rt.render import render_file

    block = args.block_size or config.audio.block_size
    if block < 1:
        raise CliError("--block-size must be a positive number of frames")
    generated = bool(args.prompt or args.reference or args.set)
    if generated and args.instrument:
        raise CliError("give --instrument or --prompt/--reference/--set, not both")
    if args.set is not None and (args.prompt or args.reference):
        raise CliError("give --set or --prompt/--reference, not both")
    if args.seed is not None and (args.set is not None or not generated):
        raise CliError("--seed goes with --prompt or --reference (a set names its own seeds)")
    if args.seed is not None and args.seed < 0:
        raise CliError("--seed must be 0 or more")
    if generated:
        _render_generated(config, args, block)
        return
    instruments, bank = _load(config, args.instrument)
    engine = Engine(config.engine, config.audio.sample_rate, instruments, bank)
    started = time.perf_counter()
    figures = render_file(engine, args.midi, args.output, block)
    wall = time.perf_counter() - started
    c = engine.counters
    print(f"wrote {args.output}: {figures['seconds']:.1f} s of audio in {wall:.2f} s "
          f"({figures['seconds'] / wall:.0f}x real time); {c['notes']} notes, {c['stolen']} voices stolen, "
          f"{figures['unused_messages'] + c['ignored']} messages unused")


def _render_generated(config: Config, args, block: int) -> None:
    from tqdm import tqdm

    from livesampler.gen.offline import render_generated
    from livesampler.rt.render import read_events, write_wav

    if not args.output.parent.is_dir():
        raise CliError(f"cannot write {args.output}: folder {args.output.parent} does not exist")
    events, unused = read_events(args.midi, config.audio.sample_rate)  # a bad MIDI file is named before the model
    source, specs = _generated(config, args, with_config_prompts=False)
    bar = []

    def progress(done: int, total: int, spec) -> None:
        if not bar:
            bar.append(tqdm(total=total, unit="note", desc="generating", dynamic_ncols=True))
        bar[0].set_postfix_str(spec.name[:30], refresh=False)
        bar[0].update(done - bar[0].n)

    started = time.perf_counter()
    try:
        report = render_generated(config, source, specs, events, block, progress)
    finally:
        if bar:
            bar[0].close()
    write_wav(args.output, report.audio, report.sample_rate)
    wall = time.perf_counter() - started
    c = report.counters
    names = ", ".join(f"{s.name!r} take {s.seed}" for s in specs)
    print(f"generated {report.made} notes; {report.needed - report.made} of the {report.needed} notes the piece "
          f"plays were in the cache")
    print(f"wrote {args.output}: {report.audio.shape[0] / report.sample_rate:.1f} s of audio through {names} in "
          f"{wall:.1f} s; {c['notes']} notes, {c['own_sample']} played by their own generated sample, "
          f"{c['borrowed']} by a neighbour's, {c['silent_notes']} silent; "
          f"{unused + c['ignored']} messages unused")


def cmd_prepare_set(config: Config, args) -> None:
    from tqdm import tqdm

    from livesampler.gen.offline import make_notes, missing_notes
    from livesampler.gen.store import SampleStore

    keys = sorted(_note_keys(args))
    source, specs = _generated(config, args)
    store = SampleStore(config.path(config.cache.dir))
    todo = dict((spec.id, missing) for spec, missing in missing_notes(store, [(spec, keys) for spec in specs]))
    for slot, spec in enumerate(specs):
        print(f"program {slot}: {spec.name!r} take {spec.seed} (id {spec.id[:8]}), "
              f"{len(keys) - len(todo[spec.id])} of {len(keys)} notes in the cache")
    total = sum(len(missing) for missing in todo.values())
    if not total:
        print(f"nothing to make: every note of the set is in {store.root}")
        return
    bar = tqdm(total=total, unit="note", desc="generating", dynamic_ncols=True)

    def progress(done: int, _total: int, spec) -> None:
        bar.set_postfix_str(spec.name[:30], refresh=False)
        bar.update(done - bar.n)

    try:
        made = make_notes(source, [(spec, keys) for spec in specs], store, config.generator.batch_size, progress)
    except KeyboardInterrupt:
        bar.close()
        print(f"interrupted: {bar.n} notes made and kept; `livesampler prepare {args.set}` makes the other "
              f"{total - bar.n}", file=sys.stderr)
        sys.exit(130)
    bar.close()
    print(f"made {made} notes: the set's {len(specs)} instruments have all {len(keys)} notes in {store.root}")


def cmd_soundfont(args) -> None:
    from livesampler.rt.soundfont import convert_soundfont, find_preset

    folder = convert_soundfont(args.font, args.output, force=args.force)
    count = len(list(folder.glob("[0-9][0-9][0-9]/*.sfz")))
    print(f"{folder}: {count} presets; program 0 is {find_preset(folder, 0, 0).relative_to(folder)}")


def _numbers(text: str, option: str) -> list[int]:
    """"0,40-47" -> [0, 40, 41, ..., 47]; "24-36/4" -> [24, 28, 32, 36]."""
    numbers = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*(?:/\s*(\d+)\s*)?)?", part)
        if match is None:
            raise CliError(f"{option}: {part.strip()!r} is not a number or a range like 40-47 (or 40-60/4)")
        first, last, step = int(match[1]), int(match[2] or match[1]), int(match[3] or 1)
        if last < first:
            raise CliError(f"{option}: range {part.strip()} goes backwards")
        if step < 1:
            raise CliError(f"{option}: the step of {part.strip()} must be at least 1")
        numbers.extend(range(first, last + 1, step))
    return numbers


def cmd_dataset(args) -> None:
    from livesampler.data.nsynth import read_dataset
    from livesampler.data.render import SKIP_REASONS, render_soundfont

    if args.action == "info":
        for split, notes in read_dataset(args.folder).items():
            instruments = {n.instrument_str for n in notes}
            families: dict[str, set[str]] = {}
            for n in notes:
                families.setdefault(n.instrument_family_str, set()).add(n.instrument_str)
            pitches = f", pitches {min(n.pitch for n in notes)}-{max(n.pitch for n in notes)}" if notes else ""
            print(f"{split}: {len(notes)} notes, {len(instruments)} instruments{pitches}")
            if families:
                print("  " + ", ".join(f"{f} {len(i)}" for f, i in sorted(families.items())))
        return
    report = render_soundfont(args.font, args.output, programs=_numbers(args.programs, "--programs"),
                              pitches=_numbers(args.pitches, "--pitches"),
                              velocities=_numbers(args.velocities, "--velocities"),
                              sample_rate=args.sample_rate, progress=True)
    rate = report.rendered / report.seconds if report.seconds > 0 else 0.0
    print(f"{report.folder}: {report.rendered} notes rendered in {report.seconds:.1f} s ({rate:.0f} notes/s), "
          f"{report.on_disk} already there")
    print("splits: " + ", ".join(f"{split} {report.notes[split]} notes of {report.instruments[split]} instruments"
                                 for split in report.notes))
    for reason, count in sorted(report.skipped.items()):
        print(f"skipped {count} notes {reason} ({SKIP_REASONS[reason]})")
    by_reason: dict[str, list[int]] = {}
    for program, reason in report.skipped_programs.items():
        by_reason.setdefault(reason, []).append(program)
    for reason, programs in sorted(by_reason.items()):
        print(f"skipped programs {_ranges(sorted(programs))}: {reason}")


def cmd_cache(config: Config, args) -> None:
    from livesampler.gen.store import SampleStore

    store = SampleStore(config.path(config.cache.dir))
    if args.action == "list":
        found = store.instruments()
        if not found:
            print(f"{store.root}: no generated instruments")
        for inst in found:
            seed = inst.manifest.get("seed")
            take = f" (take {seed})" if isinstance(seed, int) else ""
            print(f"{inst.id}  {len(inst.notes):3d}/{ALL_NOTES} notes  {inst.bytes / 2**20:7.1f} MB  {inst.name}{take}")
        if found:
            total = sum(i.bytes for i in found) / 2**20
            print(f"{len(found)} instruments, {total:.1f} MB in {store.root}")
    elif args.action == "show":
        inst = _find(store, args.id)
        m = inst.manifest
        print(f"id:         {inst.id}\nfolder:     {inst.folder}")
        if not m:
            print("manifest:   missing or unreadable (the notes are still checked when loaded)")
        for key in ("prompt", "reference", "reference_sha256", "seed", "sampling", "model_ids", "sample_rate",
                    "created"):
            if m.get(key) not in (None, ""):
                print(f"{key + ':':<11} {m[key]}")
        print(f"notes:      {len(inst.notes)} of {ALL_NOTES}, {inst.bytes / 2**20:.1f} MB")
        by_layer: dict[int, list[int]] = {}
        for pitch, layer in inst.notes:
            by_layer.setdefault(layer, []).append(pitch)
        for layer in sorted(by_layer):
            print(f"  layer {layer}: {_ranges(by_layer[layer])}")
    else:
        if args.all == bool(args.id):
            raise CliError("cache clear takes instrument ids or --all (not both)")
        chosen = store.instruments() if args.all else [_find(store, prefix) for prefix in args.id]
        for inst in chosen:
            store.remove(inst.id)
            print(f"removed {inst.id} ({inst.name}, {len(inst.notes)} notes, {inst.bytes / 2**20:.1f} MB)")
        if not chosen:
            print(f"{store.root}: nothing to remove")


def cmd_export(config: Config, args) -> None:
    from tqdm import tqdm

    from livesampler.gen.export import ExportError, export_instrument, make_missing
    from livesampler.gen.store import SampleStore

    named = (args.id is not None) + (args.prompt is not None) + (args.reference is not None)
    if named != 1:
        raise CliError("export takes one of: an instrument id, --prompt TEXT or --reference FILE")
    keys = _note_keys(args)
    store = SampleStore(config.path(config.cache.dir))

    spec = None
    if args.id is not None:
        inst = _find(store, args.id)
        if args.complete:
            m = inst.manifest
            try:
                spec = configured_spec(config, m.get("prompt", ""), m.get("reference", ""), m.get("seed", 0))
            except ValueError as e:
                raise CliError(f"instrument {inst.id[:8]} cannot be completed: {e}") from None
            if spec.id != inst.id:
                raise CliError(f"instrument {inst.id[:8]} was made with other model files or sampling settings "
                               "than config.toml names: export it as it is, without --complete")
    else:
        try:
            spec = configured_spec(config, args.prompt or "", args.reference or "", config.model.seed)
        except ValueError as e:
            raise CliError(str(e)) from None
    if args.complete:
        from livesampler.gen.model import configured_source

        bar = tqdm(total=len(keys), unit="note", desc="generating", dynamic_ncols=True)
        made = make_missing(configured_source(config), spec, store, keys, config.generator.batch_size,
                            progress=lambda done, total: bar.update(done - bar.n))
        bar.close()
        print(f"generated {made} notes")
    if spec is not None:
        try:
            inst = store.find(spec.id)
        except KeyError:
            raise CliError(f"{spec.name!r} (id {spec.id[:8]}) has no notes in {store.root} yet: play it, "
                           "or export with --complete to make them") from None
    try:
        report = export_instrument(store, inst, args.output, bits=args.bits, release=config.engine.release,
                                   keys=keys, force=args.force)
    except ExportError as e:
        raise CliError(str(e)) from None
    for what in report.damaged:
        logging.getLogger(__name__).warning("left out a damaged cache entry (removed; --complete makes it "
                                            "again): %s", what)
    size = sum(f.stat().st_size for f in report.folder.rglob("*") if f.is_file()) / 2**20
    level = f", samples scaled by {report.scale_db:.1f} dB and given back in the presets" if report.scale_db else ""
    print(f"exported {report.notes} of {len(keys)} notes of {inst.name!r} to {report.sfz} and {report.dspreset.name} "
          f"({size:.1f} MB{level})")


def _note_keys(args) -> set:
    """The (pitch, velocity layer) notes of --pitches and --velocities."""
    from livesampler.gen.spec import LAYERS, PITCHES

    pitches, layers = _numbers(args.pitches, "--pitches"), _numbers(args.velocities, "--velocities")
    if not set(pitches) <= set(PITCHES):
        raise CliError(f"--pitches: generated instruments have pitches {PITCHES[0]}-{PITCHES[-1]}")
    if not set(layers) <= set(LAYERS):
        raise CliError(f"--velocities: the layers are {','.join(map(str, LAYERS))}")
    return {(p, v) for p in pitches for v in layers}


def configured_spec(config: Config, prompt: str, reference: str, seed: int):
    """The instrument a prompt or reference sound makes with the model config.toml names."""
    from livesampler.gen.model import ModelSource, configured_source

    ModelSource(factory=None).spec(prompt, reference, seed)  # a wrong prompt is named before the model files
    return configured_source(config).spec(prompt, reference, seed)


def _find(store, prefix: str):
    try:
        return store.find(prefix)
    except KeyError as e:
        raise CliError(e.args[0]) from None


def _ranges(pitches: list[int]) -> str:
    """[21, 22, 23, 30] -> "21-23 30"."""
    parts, start = [], None
    for i, p in enumerate(pitches):
        if start is None:
            start = p
        if i + 1 == len(pitches) or pitches[i + 1] != p + 1:
            parts.append(str(start) if start == p else f"{start}-{p}")
            start = None
    return " ".join(parts)


def cmd_prepare(config: Config, args) -> None:
    from tqdm import tqdm

    from livesampler.data.features import note_set, prepare
    from livesampler.data.nsynth import read_audio, spread
    from livesampler.model.clap import load_clap
    from livesampler.model.codec import load_codec
    from livesampler.model.instrument import pick_device

    if args.batch_size < 1:
        raise CliError("--batch-size must be at least 1")
    if args.max_notes is not None and args.max_notes < 1:
        raise CliError("--max-notes must be at least 1")
    notes, entries = note_set(args.data)
    notes = spread(sorted(notes, key=lambda n: (n.split, n.key)), args.max_notes)
    device = pick_device(args.device)
    m = config.model
    codec = load_codec(args.codec_family or m.codec, args.codec or config.path(m.codec_weights), device=device)
    clap = load_clap(m.clap, args.clap or config.path(m.clap_path), config.path(m.laion_text_dir),
                     m.laion_audio_model, device)

    def load_audio(note):
        entry = entries[note.key]
        return read_audio(entry, entry.sample_rate), entry.sample_rate  # at the rate examples.json declares

    with tqdm(total=len(notes), unit="note", dynamic_ncols=True) as bar:
        made = prepare(notes, load_audio, args.out, codec, clap, m.note_seconds, args.batch_size, progress=bar.update)
    print(f"{args.out}: {made} notes encoded now, {len(notes)} in the note set (codec {codec.id}, CLAP {clap.id})")


def cmd_train_codec(args) -> None:
    from livesampler.train.codec import train_codec

    from livesampler.model.hnc import HncConfig

    if args.max_notes is not None and args.max_notes < 1:
        raise CliError("--max-notes must be at least 1")
    if args.hop < 64 or args.codebooks < 1 or not 2 <= args.codebook_size <= 4096:
        raise CliError("--hop must be at least 64, --codebooks at least 1, --codebook-size 2-4096")
    if args.smooth_frames < 1 or args.smooth_frames % 2 == 0:
        raise CliError("--smooth-frames must be odd: 1 (none), 3, 5, ...")
    cfg = HncConfig(hop=args.hop, num_codebooks=args.codebooks, codebook_size=args.codebook_size,
                    min_window=max(512, 2 ** (args.hop - 1).bit_length()), smooth_frames=args.smooth_frames)
    train_codec(args.data, args.out, args.max_notes, cfg)


def cmd_train_clap(args) -> None:
    from livesampler.train.clap import ClapTrainConfig, train

    try:
        channels = tuple(int(c) for c in args.channels.split(","))
    except ValueError:
        raise CliError(f"--channels must be widths separated by commas, like 16,32,64,128,256; got {args.channels!r}") from None
    if not channels or min(channels) < 1:
        raise CliError(f"--channels must be positive widths, got {args.channels!r}")
    cfg = ClapTrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup=args.warmup,
                          eval_every=args.eval_every, channels=channels, seed=args.seed)
    train(args.data, args.out, cfg, device=args.device, progress=not args.no_progress)


def cmd_train_lm(config: Config, args) -> None:
    from livesampler.model import ModelError
    from livesampler.train.lm import TrainConfig, train

    try:
        cfg = TrainConfig(preset=args.preset, clap_scheme=args.clap_scheme, objective=args.objective,
                          steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup=args.warmup,
                          eval_every=args.eval_every, seed=args.seed, condition_dropout=args.condition_dropout,
                          condition_sum=args.condition_sum, reference=args.reference,
                          reference_dropout=args.reference_dropout, text_share=args.text_share,
                          reference_sum=args.reference_sum, init_from=str(args.init_from or ""))
    except ModelError as e:
        raise CliError(str(e)) from None
    text_clap = (lambda: _clap(config, args.clap, "cpu")) if cfg.text_share > 0 else None
    train(args.data, args.out, cfg, device=args.device, codec=_sample_codec(config), progress=not args.no_progress,
          text_clap=text_clap)


def _sample_codec(config: Config):
    """The configured codec, if its files are there: it decodes the notes written at each checkpoint."""
    from livesampler.model.codec import load_codec

    path = config.path(config.model.codec_weights)
    return load_codec(config.model.codec, path) if path.exists() else None


def _clap(config: Config, path: Path | None, device):
    from livesampler.model.clap import load_clap

    m = config.model
    return load_clap(m.clap, path or config.path(m.clap_path), config.path(m.laion_text_dir), m.laion_audio_model,
                     device)


def cmd_eval(config: Config, args) -> None:
    import json

    from livesampler.model.instrument import pick_device

    pitches, velocities = _numbers(args.pitches, "--pitches"), _numbers(args.velocities, "--velocities")
    if not all(0 <= p <= 127 for p in pitches + velocities):
        raise CliError("--pitches and --velocities must be MIDI numbers, 0-127")
    show = sys.stderr.isatty()
    if args.action == "real":
        from livesampler.eval.real import evaluate_real, summary

        if args.max_instruments is not None and args.max_instruments < 1:
            raise CliError("--max-instruments must be at least 1")
        if args.max_notes is not None and args.max_notes < 2:
            raise CliError("--max-notes must be at least 2 (consistency compares notes)")
        clap = _clap(config, args.clap, pick_device(args.device))
        result = evaluate_real(args.data, clap, args.split, args.max_instruments, args.max_notes, pitches, velocities,
                               args.seed, cache=args.cache, show=show)
        print(json.dumps(result, indent=2) if args.json else "\n".join(summary(result)))
        return
    from livesampler.eval.notes import read_prompts
    from livesampler.eval.run import evaluate

    if args.data is None:
        raise CliError("eval needs --data DIR (a note set with a test or valid split); or run `eval real DIR`")
    if args.instruments < 1:
        raise CliError("--instruments must be at least 1")
    prompts = read_prompts(args.prompts) if args.prompts is not None else None
    m = config.model
    checkpoints = args.checkpoint or [config.path(m.lm_checkpoint)]
    result = evaluate(checkpoints, args.data, args.out, config, prompts=prompts, instruments=args.instruments,
                      pitches=pitches, velocities=velocities, split=args.split, seed=args.seed, codec=args.codec,
                      codec_family=args.codec_family, clap=args.clap, device=args.device, cache=args.cache,
                      show=show, log=lambda line: print(line, file=sys.stderr, flush=True))
    print(f"wrote {args.out / 'eval.json'} and {args.out / 'report.md'} ({len(result['checkpoints'])} checkpoint(s), "
          f"{len(result['instruments'])} instruments, {result['seconds']:.0f} s)")


def cmd_demo(config: Config, args) -> None:
    from livesampler.rt.audio import AudioError, list_outputs

    try:
        has_output = bool(list_outputs())
    except AudioError:
        has_output = False
    if has_output:
        cmd_play(config, argparse.Namespace(instrument=None, prompt=None, reference=None, set=None, seed=None,
                                            midi_port=None,
                                            audio_device=None, midi_file=DEMO_MIDI, seconds=None))
        return
    print("no audio output here: rendering the demo to a file instead")
    cmd_render(config, argparse.Namespace(midi=DEMO_MIDI, output=args.output, instrument=None, block_size=None,
                                          prompt=None, reference=None, seed=None, set=None))


def main(argv: list[str] | None = None) -> None:
    args = get_parser().parse_args(argv)
    logging.basicConfig(format="livesampler: %(message)s", level=logging.INFO)
    from livesampler.rt.audio import AudioError
    from livesampler.rt.instrument import InstrumentError
    from livesampler.rt.midi import MidiError
    from livesampler.rt.render import RenderError
    from livesampler.data import DatasetError
    from livesampler.data.features import FeatureError
    from livesampler.eval import EvalError
    from livesampler.model import ModelError  # CheckpointError and the others are kinds of it
    from livesampler.rt.soundfont import SoundfontError

    try:
        if args.command == "soundfont":
            cmd_soundfont(args)
            return
        if args.command == "train" and args.what == "codec":
            cmd_train_codec(args)  # fitted from the note set alone: no config needed
            return
        if args.command == "train" and args.what == "clap":
            cmd_train_clap(args)
            return
        if args.command == "dataset" and args.action != "prepare":
            cmd_dataset(args)
            return
        config = _config(args)
        if args.command == "devices":
            cmd_devices(config)
        elif args.command == "play":
            cmd_play(config, args)
        elif args.command == "render":
            cmd_render(config, args)
        elif args.command == "prepare":
            cmd_prepare_set(config, args)
        elif args.command == "cache":
            cmd_cache(config, args)
        elif args.command == "export":
            cmd_export(config, args)
        elif args.command == "train":
            cmd_train_lm(config, args)
        elif args.command == "dataset":
            cmd_prepare(config, args)
        elif args.command == "demo":
            cmd_demo(config, args)
        elif args.command == "eval":
            cmd_eval(config, args)
    except (CliError, ConfigError, InstrumentError, MidiError, AudioError, RenderError, SoundfontError,
            ModelError, FeatureError, DatasetError, EvalError) as e:
        fatal(str(e))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
