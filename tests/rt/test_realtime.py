"""What the audio callback may not do: allocate per block, import model code."""

import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np

from livesampler.rt.engine import BEND, NOTE_ON

from .conftest import BLOCK, looped_sine, make_engine

ROOT = Path(__file__).resolve().parents[2]


def measure_allocations() -> dict:
    """Peak and kept bytes of many blocks, 64 voices, with bends; run in a fresh interpreter."""
    from livesampler.rt.samples import SampleBank

    from tests.rt.conftest import SR

    bank = SampleBank(SR)
    figures = {}
    engine = make_engine([looped_sine(bank)], bank, polyphony=64)
    out = np.zeros((BLOCK, 2), np.float32)
    for n in range(64):
        engine.push((NOTE_ON, n % 16, 40 + n // 16, 100))
    for _ in range(10):
        engine.process(out)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    for b in range(2000):
        engine.bend[b % 16] = 1.0 + (b % 7) * 1e-3  # the bend table changes, as pitch bend does
        engine.process(out)
    current, peak = tracemalloc.get_traced_memory()
    figures.update(voices=engine.active_voices, peak=peak - base, kept=current - base)
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    for b in range(500):
        engine.push((BEND, 0, 8192 + b, 0))
        engine.process(out)
    figures["bend_peak"] = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return figures


def test_process_allocates_nothing_per_block():
    # tracemalloc sees every thread; in a fresh interpreter the engine is the only one working.
    code = "import json; from tests.rt.test_realtime import measure_allocations as m; print(json.dumps(m()))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["voices"] == 64
    # One block of audio alone would be 1 KiB; 2,000 blocks leave no trace.
    assert figures["peak"] < 1024, figures
    assert figures["kept"] < 256, figures
    # A bend event is a table write, not an array.
    assert figures["bend_peak"] < 1024, figures


def test_realtime_room_does_not_import_torch():
    code = (
        "import sys, livesampler.rt.engine, livesampler.rt.host, livesampler.rt.render, livesampler.cli;"
        "print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_prepare_compiles_every_kernel_before_playing(bank):
    from livesampler.rt.host import prepare_engine
    from livesampler.rt.voices import KERNELS

    engine = make_engine([looped_sine(bank)], bank)
    prepare_engine(engine, BLOCK)
    signatures = {k.py_func.__name__: len(k.signatures) for k in KERNELS}
    assert all(signatures.values()), signatures
    # Playing adds no new compilation: the engine passes the types compile_all used.
    engine.push((NOTE_ON, 0, 60, 100))
    engine.push((0xB0, 0, 66, 127))
    engine.push((0x80, 0, 60, 0))
    engine.process(np.zeros((BLOCK, 2), np.float32))
    assert {k.py_func.__name__: len(k.signatures) for k in KERNELS} == signatures
