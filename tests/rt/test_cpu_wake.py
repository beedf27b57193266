"""The PM QoS request that keeps idle cores awake while playing."""

from __future__ import annotations

import os
import struct

import pytest

from livesampler.rt.cpu_wake import PM_QOS, CpuWakeHold


def current_limit() -> int:
    """The wake-up latency cap in force now, in microseconds, as the kernel reports it."""
    with open(PM_QOS, "rb") as f:
        return struct.unpack("=i", f.read(4))[0]


def test_a_device_that_cannot_be_opened_is_a_reason_not_an_error(tmp_path):
    hold = CpuWakeHold(tmp_path / "missing" / "cpu_dma_latency")
    assert hold.acquire() is False
    assert not hold.held
    assert "cpu_dma_latency" in hold.reason and "\n" not in hold.reason
    hold.release()  # nothing held: nothing to do


@pytest.mark.skipif(not os.access(PM_QOS, os.W_OK), reason=f"{PM_QOS} is not writable here (needs root)")
def test_the_limit_is_zero_while_held_and_back_after():
    before = current_limit()
    hold = CpuWakeHold()
    assert hold.acquire(), hold.reason
    try:
        assert hold.held
        assert current_limit() == 0
        assert hold.acquire()  # a second acquire keeps the one request
    finally:
        hold.release()
    assert not hold.held
    assert current_limit() == before
