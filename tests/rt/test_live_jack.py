"""End to end through a real JACK server (dummy driver): MIDI in, audio out, heard.

A module fixture starts ``jackd`` with the dummy backend under a server name
of its own (JACK_DEFAULT_SERVER, inherited by every child), so no sound card is
needed and no other JACK server is touched. MIDI comes from a second process
through rtmidi's JACK API, as it would from a keyboard's driver, and the
engine's output is recorded by a third, a JACK client that does nothing else
(a Python process callback sharing the GIL with the test would make the graph
late itself). Both note the JACK frame time of what they do, so the time from
key to sound is measured in frames.

Whether the sampler kept time is judged from the server's own account of each
xrun (``Server.lateness``), not from the underflows PortAudio reports: JACK
flags every xrun to every client, and on a virtual machine whose cores are
taken away for milliseconds at a time a JACK graph has xruns that no client
caused.
"""

from __future__ import annotations

import ctypes
import json
import os
import queue
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from livesampler.config import AudioConfig, Config, MidiConfig
from livesampler.rt.host import LiveHost
from livesampler.rt.instrument import Instrument
from livesampler.rt.midi import MidiError, MidiInput
from livesampler.rt.samples import SampleBank

from .conftest import dominant_hz, hz, sine

pytestmark = [pytest.mark.jack, pytest.mark.slow]

SR = 48000
PERIOD = 128
PERIOD_MS = PERIOD / SR * 1e3
# --realtime (jackd's default, spelled out): the server's and every client's
# process thread run SCHED_FIFO, so a Python process starting up beside them
# does not make the graph late. Where real-time scheduling is not permitted
# jackd logs "Cannot use real-time scheduling" and runs without it.
JACKD_ARGS = ["--realtime", "-d", "dummy", "-r", str(SR), "-p", str(PERIOD)]
ROOT = Path(__file__).resolve().parents[2]

SILENT = 1e-4  # the engine writes exact zeros when nothing sounds
NOTE_ON, NOTE_OFF = 0x90, 0x80


# The JACK server.


@dataclass
class Lateness:
    """Of the xruns in a stretch of a server's log: how many, and in how many
    the sampler's client and the reference client were late in their own
    process cycle (running it when the cycle ended, or finishing it after)."""

    cycles: int
    sampler: int
    reference: int


# jackd (jack2) checks, as each cycle begins, that every client finished the
# last one, and logs each that did not, with its state: "Triggered" (woken but
# not yet run: the scheduler's doing), "Running" (still in its process
# callback), or "finished after current callback". The driver then logs
# "Process error" for that cycle.
LATE_CLIENT = re.compile(
    r"JackEngine::XRun: client (?:= )?(.+?) (?:was not finished, state = (\w+)|finished after current callback)")


@dataclass
class Server:
    name: str
    device: str  # PortAudio's name for the server's output
    log: Path  # what jackd prints

    def mark(self) -> int:
        return self.log.stat().st_size

    def lateness(self, since: int, sampler: str, reference: str) -> Lateness:
        """Xruns logged after ``since`` (a ``mark``), and those in which the client
        ``sampler`` or ``reference`` was the late one."""
        with open(self.log, "rb") as f:
            f.seek(since)
            text = f.read().decode(errors="replace")
        cycles, late = [], {}
        for line in text.splitlines():
            found = LATE_CLIENT.match(line)
            if found:
                late[found.group(1)] = found.group(2) or "After"
            elif "Process error" in line and late:
                cycles.append(late)
                late = {}
        if late:
            cycles.append(late)
        own = ("Running", "After")
        return Lateness(len(cycles), sum(c.get(sampler) in own for c in cycles),
                        sum(c.get(reference) in own for c in cycles))


def _die_with_parent() -> None:
    """In the child: SIGTERM when the test process dies, so no server is left behind."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _server_up(jack, name: str) -> bool:
    try:
        jack.Client("livesampler-probe", no_start_server=True, servername=name).close()
        return True
    except jack.JackError:
        return False


@pytest.fixture(scope="module")
def jack_server(tmp_path_factory):
    """A JACK server with the dummy driver, as a ``Server``."""
    jackd = shutil.which("jackd")
    if jackd is None:
        pytest.skip("jackd is not installed (Debian: apt-get install jackd2)")
    jack = pytest.importorskip("jack", reason="the JACK-Client package is not installed (pip install JACK-Client)")
    import sounddevice as sd

    name = f"livesampler-test-{os.getpid()}-{secrets.token_hex(3)}"
    log_path = tmp_path_factory.mktemp("jackd") / "jackd.log"
    with pytest.MonkeyPatch.context() as mp, open(log_path, "wb") as log:
        mp.setenv("JACK_DEFAULT_SERVER", name)  # for this process and every child
        proc = subprocess.Popen([jackd, "-n", name, *JACKD_ARGS], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        try:
            jack.set_error_function(lambda msg: None)  # "cannot connect" while it starts
            deadline = time.monotonic() + 10.0
            while not _server_up(jack, name):
                if proc.poll() is not None or time.monotonic() > deadline:
                    text = log_path.read_text(errors="replace").strip().splitlines()[-10:]
                    pytest.fail(f"jackd {' '.join(JACKD_ARGS)} did not start: " + " | ".join(text), pytrace=False)
                time.sleep(0.05)
            jack.set_error_function(None)
            # PortAudio lists host APIs once, when initialised (at `import
            # sounddevice`, which collecting the tests has done): look again.
            sd._terminate()
            sd._initialize()
            apis = sd.query_hostapis()
            outputs = [d["name"] for d in sd.query_devices()
                       if d["max_output_channels"] >= 2 and "JACK" in apis[d["hostapi"]]["name"]]
            assert outputs, f"PortAudio lists no JACK output: {sd.query_devices()}"
            yield Server(name, outputs[0], log_path)
        finally:
            jack.set_error_function(None)
            if sd._initialized:
                sd._terminate()  # PortAudio's JACK client leaves before the server goes
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            sd._initialize()  # without the JACK device now


def audio_outputs() -> set[str]:
    """Names of all audio output ports that are not hardware (the dummy driver's captures)."""
    import jack

    with jack.Client(f"lister-{secrets.token_hex(3)}", no_start_server=True) as c:
        physical = {p.name for p in c.get_ports(is_audio=True, is_output=True, is_physical=True)}
        return {p.name for p in c.get_ports(is_audio=True, is_output=True)} - physical


def new_outputs(before: set[str], timeout: float = 5.0) -> list[str]:
    """The two audio outputs that appeared since ``before``: a stream's left and right."""
    deadline = time.monotonic() + timeout
    while True:
        new = sorted(audio_outputs() - before)
        if len(new) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(new) == 2, f"expected the stream's 2 output ports, new ports: {new}"
    return new


def connect(sources: list[str], destinations: list[str]) -> None:
    import jack

    with jack.Client(f"patch-{secrets.token_hex(3)}", no_start_server=True) as c:
        for src, dst in zip(sources, destinations, strict=True):
            c.connect(src, dst)


# Helper processes.


class Lines:
    """A child's stdout, line by line, with a timeout (a thread reads the pipe)."""

    def __init__(self, stream):
        self._queue: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def next(self, timeout: float) -> str | None:
        """The next line without its newline; None at the end of the stream."""
        line = self._queue.get(timeout=timeout)
        if line is None:
            self._queue.put(None)
            return None
        self.seen.append(line)
        return line.rstrip("\n")

    def rest(self, timeout: float = 5.0) -> list[str]:
        """Every line, once the stream has ended."""
        self._thread.join(timeout)
        while self.next(0) is not None:
            pass
        return self.seen


class Helper:
    """A Python script in its own process, driven by lines on its stdin."""

    def __init__(self, folder: Path, name: str, script: str, *args: str):
        path = folder / f"{name}.py"
        path.write_text(script)
        self.name = name
        self.proc = subprocess.Popen([sys.executable, str(path), *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = Lines(self.proc.stdout)

    def expect(self, timeout: float) -> str:
        line = self.lines.next(timeout)
        if line is None:
            self.proc.wait(5)
            pytest.fail(f"the {self.name} process failed: {self.proc.stderr.read().strip()}", pytrace=False)
        return line

    def go(self) -> None:
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        """Ends the script's input, which makes it wind up; killed if it has not in 5 s."""
        if not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# Records two input ports into a preallocated buffer until a line (or the end
# of input) arrives on stdin, then saves the audio and each block's JACK frame
# time to argv[1].
RECORDER = r"""
import sys
import jack
import numpy as np

client = jack.Client(sys.argv[2], no_start_server=True)
ports = [client.inports.register(f"in_{i}") for i in (1, 2)]
period = client.blocksize
times = np.zeros(int(float(sys.argv[3]) * client.samplerate) // period, np.int64)
audio = np.zeros((times.shape[0] * period, 2), np.float32)
blocks = [0]
xruns = [0]

def process(frames):
    n = blocks[0]
    if n < times.shape[0] and frames == period:
        times[n] = client.last_frame_time
        audio[n * period:(n + 1) * period, 0] = ports[0].get_array()
        audio[n * period:(n + 1) * period, 1] = ports[1].get_array()
        blocks[0] = n + 1

def xrun(delay):
    xruns[0] += 1

client.set_process_callback(process)
client.set_xrun_callback(xrun)
client.activate()
print("ready", flush=True)
sys.stdin.readline()
client.deactivate()
n = blocks[0]
np.savez(sys.argv[1], audio=audio[:n * period], times=times[:n], xruns=xruns[0])
client.close()
print("saved", flush=True)
"""


class Take:
    """A recording laid out on the JACK frame clock: ``audio`` [frames, 2] from
    the first recorded cycle's frame time, and ``recorded``, which of its
    frames the recorder got. A cycle the recorder missed (late on a busy
    machine) leaves a silent gap where it was, so what follows stays at its own
    time; a callback that ran late may have read the next cycle's time, and
    the block of that next cycle then overwrites it."""

    def __init__(self, path: Path):
        with np.load(path) as saved:
            blocks, times, self.xruns = saved["audio"], saved["times"], int(saved["xruns"])
        assert times.size > 10, "the recorder got no audio"
        self.t0 = int(times[0])
        starts = (times - self.t0) % 2**32
        assert starts.max() < 600 * SR, "the recorder's frame times jump"
        self.audio = np.zeros((int(starts.max()) + PERIOD, 2), np.float32)
        self.recorded = np.zeros(self.audio.shape[0], bool)
        for k, start in enumerate(starts):
            self.audio[start:start + PERIOD] = blocks[k * PERIOD:(k + 1) * PERIOD]
            self.recorded[start:start + PERIOD] = True
        self.missed_blocks = int((~self.recorded).sum()) // PERIOD

    def index(self, frame_time: int) -> int:
        """Where JACK frame ``frame_time`` is in ``audio``."""
        return int((frame_time - self.t0) % 2**32)

    @property
    def mono(self) -> np.ndarray:
        return self.audio.mean(axis=1)


class Recorder(Helper):
    def __init__(self, folder: Path, seconds: float):
        self.path = folder / "take.npz"
        client = f"recorder-{secrets.token_hex(3)}"
        super().__init__(folder, "recorder", RECORDER, str(self.path), client, str(seconds))
        self.client = client
        self.inputs = [f"{client}:in_1", f"{client}:in_2"]
        assert self.expect(15.0) == "ready"

    def stop(self) -> Take:
        self.go()
        assert self.expect(10.0) == "saved"
        return Take(self.path)


# A MIDI keyboard. It joins the JACK graph and says "up" (argv[1] "virtual":
# with an output port named argv[2], for the sampler to connect to). On a
# line from stdin, "connect" mode finds the input port whose name ends in
# ":" + argv[2] and connects to it. It says "ready", plays argv[3] ([[seconds,
# message]...]) on the next line, prints [[JACK frame time at send,
# message]...] as JSON, and closes its port on the line after. The end of its
# input, at any step, closes the port and ends it.
KEYBOARD = r"""
import json, sys, time
import jack, rtmidi

mode, name, plan = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
clock = jack.Client("keyboard-clock", no_start_server=True)
out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="keyboard")
out.get_ports()  # rtmidi's JACK client is opened and activated here

def step():
    if not sys.stdin.readline():
        out.close_port()
        clock.close()
        sys.exit(0)

if mode == "virtual":
    out.open_virtual_port(name)
print("up", flush=True)
step()
if mode == "connect":
    ports = out.get_ports()
    found = [i for i, n in enumerate(ports) if n.endswith(":" + name)]
    if len(found) != 1:
        sys.exit(f"no single MIDI input port named {name!r} among {ports}")
    out.open_port(found[0])
    time.sleep(0.3)  # the server makes the connection asynchronously
print("ready", flush=True)
step()
sent = []
begin = time.monotonic()
for at, message in plan:
    wait = begin + at - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    frame = clock.frame_time
    out.send_message(message)
    sent.append([frame, message])
time.sleep(0.05)
print(json.dumps(sent), flush=True)
sys.stdin.readline()
out.close_port()
clock.close()
"""


class Keyboard(Helper):
    """Started before the sampler, so that its JACK client joins the graph before the stream runs."""

    def __init__(self, folder: Path, mode: str, port: str, plan: list):
        super().__init__(folder, "keyboard", KEYBOARD, mode, port, json.dumps(plan))
        assert self.expect(15.0) == "up"

    def connect(self) -> None:
        self.go()
        assert self.expect(10.0) == "ready"

    def play(self, timeout: float) -> list:
        """Plays the plan; returns what was sent, with the JACK frame time of each send."""
        self.go()
        return json.loads(self.expect(timeout))


# Instruments and configs.

PLAYED = (60, 64, 69, 76)  # 64 has no sample of its own: it plays 60's, resampled
SAMPLED = (60, 69, 76)
HOLD, GAP = 0.35, 0.25  # seconds


def client_of(ports: list[str]) -> str:
    """The JACK client that owns ``ports``."""
    clients = {p.split(":", 1)[0] for p in ports}
    assert len(clients) == 1, ports
    return clients.pop()


def assert_kept_time(late: Lateness, callbacks: int, overruns: int) -> None:
    """The sampler was late by its own doing no more often than the recorder, a
    client that only copies its input, allowing it twice the recorder's count
    (its callback does more, so a core taken away mid-cycle catches it more
    often) and 1% of its cycles. A sampler whose callback stalls (the GIL held
    by another thread, I/O, a kernel compiled on the first note) is late in
    hundreds of cycles."""
    allowed = max(2, callbacks // 100) + 2 * late.reference
    assert late.sampler <= allowed, (
        f"the sampler's client was late in {late.sampler} of {late.cycles} xruns "
        f"(the recorder in {late.reference}; allowed {allowed} in {callbacks} cycles)")
    assert overruns <= allowed, f"{overruns} of {callbacks} blocks took longer to make than they last"


def sine_instrument(bank: SampleBank) -> Instrument:
    samples = {(p, 100): sine(p, 1.0) for p in SAMPLED}
    return Instrument.from_samples("sines", samples, SR, bank, release=0.05)


def live_config(device: str, virtual_name: str, port: str = "") -> Config:
    return Config(
        audio=AudioConfig(device=device, sample_rate=SR, block_size=PERIOD),
        midi=MidiConfig(api="jack", port=port, virtual_name=virtual_name),
    )


def write_tone_sfz(folder: Path) -> Path:
    import soundfile

    soundfile.write(folder / "tone.wav", sine(69, 1.0), SR, subtype="FLOAT")
    sfz = folder / "tone.sfz"
    sfz.write_text("<region> sample=tone.wav pitch_keycenter=69\n")
    return sfz


def write_config(folder: Path, device: str, virtual_name: str) -> Path:
    path = folder / "config.toml"
    path.write_text(
        f'[audio]\ndevice = "{device}"\nsample_rate = {SR}\nblock_size = {PERIOD}\n\n'
        f'[midi]\napi = "jack"\nvirtual_name = "{virtual_name}"\n'
    )
    return path


class Play:
    """`livesampler play` in its own process, its stdout read line by line."""

    def __init__(self, args: list[str], cwd: Path, stdin: bool = False):
        self.proc = subprocess.Popen(cli(*args), cwd=cwd, env=cli_env(), stdin=subprocess.PIPE if stdin else None,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = Lines(self.proc.stdout)

    def wait_for(self, prefix: str, deadline: float) -> str:
        """The next line starting with ``prefix``; fails if play ends first or ``deadline`` passes."""
        while True:
            line = self.lines.next(max(0.0, deadline - time.monotonic()))
            assert line is not None, f"play exited early: {''.join(self.lines.seen)}{self.proc.stderr.read()}"
            if line.startswith(prefix):
                return line

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def output(self) -> tuple[list[str], str, str]:
        """(stdout lines, stdout, stderr) once it has ended; printed, for the test's log."""
        out = self.lines.rest()
        stdout, stderr = "".join(out), self.proc.stderr.read()
        print(stdout, stderr, sep="\n")
        return out, stdout, stderr


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "livesampler", *args]


def cli_env() -> dict:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


# The tests.


def test_midi_from_another_process_is_heard(jack_server, tmp_path):
    device = jack_server.device
    virtual = f"livesampler-{secrets.token_hex(3)}"
    plan = []
    for i, pitch in enumerate(PLAYED):
        at = 0.1 + i * (HOLD + GAP)
        plan += [(at, [NOTE_ON, pitch, 100]), (at + HOLD, [NOTE_OFF, pitch, 0])]
    bank = SampleBank(SR)
    host = LiveHost(live_config(device, virtual), [sine_instrument(bank)], bank)
    # The recorder and the keyboard join the JACK graph before the stream starts.
    recorder = Recorder(tmp_path, seconds=10.0)
    keyboard = None
    try:
        keyboard = Keyboard(tmp_path, "connect", virtual, plan)
        before = audio_outputs()
        since = jack_server.mark()
        host.start()
        assert host.midi.name == virtual
        sampler = new_outputs(before)
        connect(sampler, recorder.inputs)
        keyboard.connect()
        underflows_before = host.audio.underflows
        sent = keyboard.play(timeout=15.0)
        # The last release and the engine's last blocks; twice what they need, since
        # the recorder keeps no audio for the cycles it misses on a busy machine.
        time.sleep(0.6)
        stats = host.stats()
        take = recorder.stop()
    finally:
        if keyboard:
            keyboard.close()
        recorder.close()
        host.close()

    late = jack_server.lateness(since, client_of(sampler), recorder.client)
    playing_underflows = stats["rt/underflows"] - underflows_before
    print(f"\nstats: {stats}")
    print(f"rt/underflows={stats['rt/underflows']} ({playing_underflows} while the notes played), "
          f"rt/overruns={stats['rt/overruns']}, rt/callback_max_ms={stats['rt/callback_max_ms']:.2f} "
          f"(a block lasts {PERIOD_MS:.2f} ms); jackd: {late}; "
          f"recorder: {take.xruns} JACK xruns, {take.missed_blocks} cycles not recorded")
    assert len(sent) == 2 * len(PLAYED)
    assert stats["midi/received"] == len(sent)
    assert stats["rt/events"] == len(sent)
    assert stats["rt/notes"] == len(PLAYED)
    assert_kept_time(late, stats["rt/callbacks"], stats["rt/overruns"])

    audio, mono = take.audio, take.mono
    ons = [take.index(frame) for frame, msg in sent if msg[0] == NOTE_ON]
    offs = [take.index(frame) for frame, msg in sent if msg[0] == NOTE_OFF]
    assert audio.shape[0] > offs[-1] + int(GAP * SR), "the recording stopped before the last note ended"
    assert ons[0] > int(0.1 * SR)
    sounding = np.flatnonzero(np.abs(audio).max(axis=1) > SILENT)
    assert sounding.size, "nothing was heard"
    first_sound = int(sounding[0])
    assert first_sound >= ons[0], f"sound {(ons[0] - first_sound) / SR * 1e3:.1f} ms before the first note-on"

    latencies = []
    for pitch, on, off in zip(PLAYED, ons, offs):
        loud = np.flatnonzero(np.abs(mono[on:off]) > SILENT)
        assert loud.size, f"note {pitch} is not heard"
        onset = on + int(loud[0])
        latencies.append((onset - on) / SR)
        # The held note, block by block, in the blocks the recorder got.
        first, last = (onset // PERIOD + 1) * PERIOD, off // PERIOD * PERIOD
        held = mono[first:last]
        kept = take.recorded[first:last:PERIOD]
        rms = np.sqrt((held.reshape(-1, PERIOD)[kept] ** 2).mean(axis=1))
        assert rms.size > kept.size // 2, f"note {pitch}: the recorder missed {kept.size - rms.size} of its blocks"
        assert rms.mean() > 0.05, f"note {pitch} is too quiet: rms {rms.mean():.4f}"
        dropouts = int((rms < 0.3 * rms.mean()).sum())
        assert dropouts <= stats["rt/underflows"], f"note {pitch}: {dropouts} silent blocks while held"
        measured = dominant_hz(held)
        assert measured == pytest.approx(hz(pitch), rel=0.01), f"note {pitch}: {measured:.1f} Hz"
        # Released: quiet again before the next note (release 50 ms to -60 dB),
        # in a window that stops 50 ms short of the next note-on.
        tail = mono[off + int(0.15 * SR):off + int((GAP - 0.05) * SR)]
        assert np.sqrt((tail ** 2).mean()) < 1e-3 * rms.mean(), f"note {pitch} still sounds after its note-off"

    # From the JACK frame time at which the keyboard sent a note-on to the
    # first frame of the cycle whose output holds its sound; a sound card
    # plays that cycle one period later still.
    worst = max(latencies)
    print(f"MIDI send to sound: {', '.join(f'{x * 1e3:.1f}' for x in latencies)} ms "
          f"(worst {worst * 1e3:.1f} ms; a {PERIOD}-frame period at {SR} Hz is {PERIOD_MS:.2f} ms)")
    assert worst < 0.05


def test_play_command_plays_and_reports(jack_server, tmp_path):
    device = jack_server.device
    keys = f"keys-{secrets.token_hex(3)}"
    config = write_config(tmp_path, device, "livesampler")
    sfz = write_tone_sfz(tmp_path)
    # Every client is in the JACK graph before `play` starts; only connections
    # are made while it plays. `play` connects to the keyboard's port by name
    # (--midi-port), the way it opens a hardware keyboard.
    recorder = Recorder(tmp_path, seconds=10.0)
    keyboard = play = None
    try:
        keyboard = Keyboard(tmp_path, "virtual", keys, [(0.0, [NOTE_ON, 69, 100]), (0.4, [NOTE_OFF, 69, 0])])
        keyboard.connect()
        before = audio_outputs()
        since = jack_server.mark()
        play = Play(["--config", str(config), "play", "--instrument", str(sfz), "--midi-port", keys, "--seconds", "3"],
                    tmp_path)
        play.wait_for("playing:", time.monotonic() + 20.0)
        sampler = new_outputs(before)
        connect(sampler, recorder.inputs)
        keyboard.play(timeout=5.0)
        rc = play.proc.wait(timeout=15)
        take = recorder.stop()
    finally:
        if play:
            play.kill()
        if keyboard:
            keyboard.close()
        recorder.close()
    out, stdout, stderr = play.output()
    assert rc == 0, stderr
    assert "Traceback" not in stderr
    assert f"MIDI in 'keyboard:{keys}' (jack)" in stdout
    stopped = [line for line in out if line.startswith("stopped:")]
    assert len(stopped) == 1 and "rt/underflows=" in stopped[0]
    figures = dict(re.findall(r"([\w/]+)=([-\w.]+)", stopped[0]))
    late = jack_server.lateness(since, client_of(sampler), recorder.client)
    print(f"play: rt/underflows={figures['rt/underflows']}, rt/overruns={figures['rt/overruns']}, "
          f"rt/callback_max_ms={figures['rt/callback_max_ms']}; jackd: {late}")
    assert_kept_time(late, int(figures["rt/callbacks"]), int(figures["rt/overruns"]))
    assert figures["midi/received"] == "2" and figures["rt/notes"] == "1"
    mono = take.mono
    loud = np.flatnonzero(np.abs(mono) > SILENT)
    assert loud.size and loud[-1] - loud[0] > int(0.3 * SR), "the note played to `livesampler play` is not heard"
    held = mono[loud[0] + PERIOD:loud[0] + int(0.35 * SR)]
    assert dominant_hz(held) == pytest.approx(440.0, rel=0.01)


def test_missing_midi_port_is_one_line_error(jack_server, tmp_path):
    with pytest.raises(MidiError) as caught:
        MidiInput(MidiConfig(api="jack", port="no such port"), lambda event: None)
    message = str(caught.value)
    print(f"\nMidiError: {message}")
    assert "no such port" in message and "\n" not in message

    config = write_config(tmp_path, jack_server.device, f"livesampler-{secrets.token_hex(3)}")
    sfz = write_tone_sfz(tmp_path)
    result = subprocess.run(
        cli("--config", str(config), "play", "--instrument", str(sfz), "--midi-port", "no such port", "--seconds", "1"),
        cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=30,
    )
    print(result.stdout, result.stderr, sep="\n")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("livesampler: error:"), result.stderr
    assert "no such port" in errors[0]


def prompt_song(folder: Path, seconds: float) -> Path:
    """A note every 0.3 s: a C major arpeggio, loud then soft, again and again."""
    import mido

    mid = mido.MidiFile(ticks_per_beat=480)  # 120 qpm: 960 ticks a second
    track = mido.MidiTrack()
    mid.tracks.append(track)
    for i in range(int(seconds / 0.3)):
        pitch, velocity = (60, 64, 67, 72, 67, 64)[i % 6], 100 if i % 12 < 6 else 60
        track.append(mido.Message("note_on", note=pitch, velocity=velocity, time=0 if i == 0 else 38))
        track.append(mido.Message("note_off", note=pitch, velocity=0, time=250))
    path = folder / "prompt_song.mid"
    mid.save(path)
    return path


def test_play_prompt_generates_while_playing(jack_server, tmp_path):
    """`play --prompt`: real (tiny) model files, the generator process, the cache, JACK, a prompt typed."""
    pytest.importorskip("torch")
    from tests.model.tiny import save_tiny_models

    models = save_tiny_models(tmp_path / "models")
    config = write_config(tmp_path, jack_server.device, f"livesampler-{secrets.token_hex(3)}")
    with open(config, "a") as f:
        f.write('\n[cache]\ndir = "cache"\n\n[model]\n'
                + "".join(f'{key} = "{path}"\n' for key, path in models.items())
                + 'device = "cpu"\ntop_k = 20\nguidance_scale = 1.0\nnote_seconds = 0.5\n')
    recorder = Recorder(tmp_path, seconds=60.0)
    play = None
    try:
        before = audio_outputs()
        since = jack_server.mark()
        play = Play(["--config", str(config), "play", "--prompt", "warm analog pad",
                     "--midi-file", str(prompt_song(tmp_path, 45.0))], tmp_path, stdin=True)
        deadline = time.monotonic() + 45.0

        def wait_for(prefix: str) -> str:
            return play.wait_for(prefix, deadline)

        wait_for("playing:")
        sampler = new_outputs(before)
        connect(sampler, recorder.inputs)
        while int(re.search(r"'warm analog pad' has (\d+)", wait_for("generator:")).group(1)) < 4:
            pass  # the model loads, then notes land and are played
        play.proc.stdin.write("bright bell\n")
        play.proc.stdin.flush()
        assert "'bright bell'" in wait_for("now playing")
        while int(re.search(r"'bright bell' has (\d+)", wait_for("generator:")).group(1)) < 2:
            pass
        time.sleep(1.0)  # a few notes on the new instrument
        play.proc.send_signal(signal.SIGTERM)  # stops as Ctrl-C does, with the figures
        rc = play.proc.wait(timeout=20)
        take = recorder.stop()
    finally:
        if play:
            play.kill()
        recorder.close()
    out, stdout, stderr = play.output()
    assert rc == 0 and "Traceback" not in stderr, stderr
    assert "program 0: 'warm analog pad'" in stdout
    figures = dict(re.findall(r"([\w/]+)=([-\w.]+)", [line for line in out if line.startswith("stopped:")][0]))
    late = jack_server.lateness(since, client_of(sampler), recorder.client)
    print({k: figures[k] for k in ("gen/made", "rt/underflows", "rt/overruns", "rt/own_sample", "rt/borrowed",
                                   "rt/callback_max_ms")}, f"jackd: {late}")
    assert int(figures["gen/made"]) >= 6
    assert int(figures["rt/own_sample"]) > 0, "no key played its own generated sample"
    assert int(figures["rt/borrowed"]) > 0, "no key borrowed a neighbour's sample while its own was being made"
    assert_kept_time(late, int(figures["rt/callbacks"]), int(figures["rt/overruns"]))
    loud = np.flatnonzero(np.abs(take.mono) > SILENT)
    assert loud.size > SR // 10, "the generated notes are not heard"
    # Both instruments are on disk, each with the notes that were made for it.
    listing = subprocess.run(cli("--config", str(config), "cache", "list"), cwd=tmp_path, env=cli_env(),
                             capture_output=True, text=True, timeout=60)
    print(listing.stdout)
    assert listing.returncode == 0
    assert "warm analog pad" in listing.stdout and "bright bell" in listing.stdout
    assert "2 instruments" in listing.stdout
