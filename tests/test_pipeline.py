"""The threaded runner: order, failure hand-off, no hang."""

from __future__ import annotations

import threading
import time

import pytest

from vidcolor.pipeline import StageClock, run_inline, run_threaded


def source(n):
    def stage(_):
        yield from range(n)

    return stage


def double(items):
    for x in items:
        yield 2 * x


@pytest.mark.parametrize("runner", [run_inline, run_threaded])
def test_order_and_values(runner):
    assert list(runner([("src", source(100)), ("double", double)])) == [2 * i for i in range(100)]


def test_worker_error_reaches_caller_without_hanging():
    def broken(items):
        for x in items:
            if x == 5:
                raise ValueError("boom at 5")
            yield x

    started = time.monotonic()
    with pytest.raises(ValueError, match="boom at 5"):
        list(run_threaded([("src", source(10**9)), ("broken", broken), ("double", double)]))
    assert time.monotonic() - started < 10
    time.sleep(0.3)
    assert not [t for t in threading.enumerate() if t.name.startswith("vidcolor-")]


def test_error_in_first_stage():
    def bad_source(_):
        yield 1
        raise OSError("read failed")

    with pytest.raises(OSError, match="read failed"):
        list(run_threaded([("src", bad_source), ("double", double)]))


def test_consumer_stopping_early_cancels_workers():
    run = run_threaded([("src", source(10**9)), ("double", double)])
    assert next(run) == 0
    run.close()
    time.sleep(0.3)
    assert not [t for t in threading.enumerate() if t.name.startswith("vidcolor-")]


def test_busy_time_excludes_waiting():
    def slow(items):
        for x in items:
            time.sleep(0.02)
            yield x

    clock = StageClock()
    list(run_threaded([("src", source(20)), ("slow", slow), ("double", double)], clock=clock))
    assert clock.busy["slow"] >= 0.35
    assert clock.busy["double"] < 0.2  # it mostly waited for "slow"


def test_a_signal_while_workers_start_waits_until_they_can_be_stopped():
    import signal

    from vidcolor.pipeline import _signals_held

    reached_end_of_block = False
    with pytest.raises(KeyboardInterrupt):
        with _signals_held():
            signal.raise_signal(signal.SIGINT)
            reached_end_of_block = True
    assert reached_end_of_block
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
