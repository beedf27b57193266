"""The generator process: the model runs here, never in the audio process.

Model code (PyTorch, numpy) holds a GIL for long stretches; in its own process
it cannot delay the audio callback's Python. Its priority is lowered and its
threads bounded, so that on a small machine the audio thread keeps a core.

The host sends ``("make", spec, notes)`` and receives, over one pipe:
    ("ready", sample_rate)          the model is loaded
    ("landed", instrument_id, note) a note is written to the cache folder
    ("done", instrument_id, notes)  the batch is finished
    ("failed", message)             the model cannot be built: no restart helps
Notes travel through the cache folder, not the pipe: they are written
atomically there, where this host (and any other sharing the folder) reads them.

``Generator`` is the host's handle: it restarts a process that dies (with a
growing pause between tries) and hands back the notes of the batch it lost.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import time
import traceback
from multiprocessing.connection import Connection

from livesampler.gen.model import ModelError, ModelSource
from livesampler.gen.spec import InstrumentSpec, NoteKey
from livesampler.gen.store import SampleStore

log = logging.getLogger(__name__)

RESTART_PAUSES = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)  # seconds before the n-th restart in a row
STABLE_SECONDS = 60.0  # a process that lived this long resets the restart count


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


@contextlib.contextmanager
def _thread_environment(threads: int):
    """The environment a spawned process starts with, bounding its thread pools.

    numpy's BLAS, torch and numba read these once, when first imported; the
    spawned process imports numpy before ``worker_main`` runs, so setting them
    there would be too late.
    """
    saved = {var: os.environ.get(var) for var in THREAD_VARIABLES}
    os.environ.update({var: str(threads) for var in THREAD_VARIABLES})
    try:
        yield
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def worker_main(conn: Connection, source: ModelSource, cache_dir: str, nice: int) -> None:
    """The generator process's whole life."""
    try:
        os.nice(nice)
    except OSError:
        pass
    import sys

    if "torch" in sys.modules or source.device != "cpu":
        import torch

        torch.set_num_threads(source.threads)
    try:
        model = source.build()
    except ModelError as e:
        conn.send(("failed", str(e)))
        return
    except Exception as e:  # a model that cannot load is reported, not retried forever
        conn.send(("failed", f"the model could not be built: {type(e).__name__}: {e}"))
        traceback.print_exc()
        return
    store = SampleStore(cache_dir)
    conn.send(("ready", model.sample_rate))
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return  # the host is gone
        if message[0] == "stop":
            return
        _, spec, notes = message
        store.open(spec, model.sample_rate)
        audio = model.generate(spec, notes)
        for note, samples in zip(notes, audio):
            store.write(spec.id, note, samples, model.sample_rate)
            conn.send(("landed", spec.id, note))
        store.update_manifest(spec.id)
        conn.send(("done", spec.id, notes))


class Generator:
    """The host's handle on the generator process. One thread (the generation loop) uses it."""

    def __init__(self, source: ModelSource, cache_dir: str, nice: int = 10):
        self.source = source
        self.cache_dir = str(cache_dir)
        self.nice = nice
        self.sample_rate = 0
        self.failure = ""  # set when the model cannot be built; no more restarts then
        self.restarts = 0
        self.made = 0
        self._context = multiprocessing.get_context("spawn")  # no fork of a process with audio threads
        self._process = None
        self._conn: Connection | None = None
        self._started = 0.0
        self._retry_at = 0.0
        self._in_a_row = 0
        self._batch: tuple[InstrumentSpec, list[NoteKey]] | None = None
        self._landed: set[NoteKey] = set()
        self._ready = False

    def start(self) -> None:
        parent, child = self._context.Pipe()
        self._process = self._context.Process(target=worker_main, args=(child, self.source, self.cache_dir, self.nice),
                                              name="livesampler-generator", daemon=True)
        with _thread_environment(self.source.threads):
            self._process.start()
        child.close()
        self._conn = parent
        self._started = time.monotonic()
        self._ready = False

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    @property
    def idle(self) -> bool:
        """Ready for a batch."""
        return self._ready and self._batch is None and not self.failure

    @property
    def in_flight(self) -> tuple[InstrumentSpec, list[NoteKey]] | None:
        return self._batch

    def submit(self, spec: InstrumentSpec, notes: list[NoteKey]) -> None:
        if not self.idle:
            raise RuntimeError("the generator is busy")
        self._batch = (spec, list(notes))
        self._landed = set()
        self._conn.send(("make", spec, list(notes)))

    def poll(self, timeout: float = 0.0) -> list[tuple]:
        """What happened since the last poll. A lost batch comes back as ``("lost", id, notes)``."""
        events = []
        if self._process is None:
            if not self.failure and time.monotonic() >= self._retry_at:
                self.start()
            return events
        try:
            while self._conn.poll(timeout):
                timeout = 0.0
                message = self._conn.recv()
                kind = message[0]
                if kind == "ready":
                    self._ready = True
                    self.sample_rate = message[1]
                elif kind == "landed":
                    self._landed.add(message[2])
                    self.made += 1
                elif kind == "done":
                    self._batch = None
                elif kind == "failed":
                    self.failure = message[1]
                    log.error("generator: %s", self.failure)
                events.append(message)
        except (EOFError, OSError):
            pass  # the process died mid-message; found below
        if not self._process.is_alive() and not self.failure:
            events.extend(self._died())
        return events

    def _died(self) -> list[tuple]:
        code = self._process.exitcode
        lived = time.monotonic() - self._started
        self._in_a_row = 0 if lived > STABLE_SECONDS else self._in_a_row + 1
        pause = RESTART_PAUSES[min(self._in_a_row, len(RESTART_PAUSES) - 1)]
        log.warning("generator process died (exit code %s); restarting in %.1f s, playing what is ready", code, pause)
        self._conn.close()
        self._conn, self._process = None, None
        self._retry_at = time.monotonic() + pause
        self.restarts += 1
        self._ready = False
        events = []
        if self._batch is not None:
            spec, notes = self._batch
            lost = [n for n in notes if n not in self._landed]
            events.append(("lost", spec.id, lost))
            self._batch = None
        return events

    def close(self, timeout: float = 5.0) -> None:
        if self._process is not None and self._process.is_alive():
            try:
                self._conn.send(("stop",))
            except (OSError, BrokenPipeError):
                pass
            self._process.join(timeout)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(timeout)
        if self._conn is not None:
            self._conn.close()
        self._process, self._conn = None, None
