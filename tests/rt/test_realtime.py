"""What the audio callback may not do: allocate per block, import model code."""

import subprocess
import sys
import tracemalloc

import numpy as np

from livesampler.rt.engine import BEND, NOTE_ON

from .conftest import BLOCK, looped_sine, make_engine


def test_process_allocates_nothing_per_block(bank):
    engine = make_engine([looped_sine(bank)], bank, polyphony=64)
    out = np.zeros((BLOCK, 2), np.float32)
    for n in range(64):
        engine.push((NOTE_ON, n % 16, 40 + n // 16, 100))
    for _ in range(10):
        engine.process(out)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for b in range(2000):
            engine.bend[b % 16] = 1.0 + (b % 7) * 1e-3  # the bend table changes, as pitch bend does
            engine.process(out)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert engine.active_voices == 64
    # One block of audio alone would be 1 KiB; 2,000 blocks leave no trace.
    assert peak - base < 1024
    assert current - base < 256


def test_bend_event_costs_no_array(bank):
    engine = make_engine([looped_sine(bank)], bank)
    out = np.zeros((BLOCK, 2), np.float32)
    engine.push((NOTE_ON, 0, 60, 100))
    engine.process(out)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for b in range(500):
            engine.push((BEND, 0, 8192 + b, 0))
            engine.process(out)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak - base < 1024


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
