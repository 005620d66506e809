"""Running a chain of generator stages, inline or in threads joined by bounded queues.

A stage is a function from an iterator of items to an iterator of items; the first stage is
given an empty iterator and produces the items. Chained in one thread the stages are the
reference path; `run_threaded` runs each in its own thread with the same result. This module
is the only place that knows about threads: a worker's exception ends the run and is raised in
the caller's thread, and no worker can keep the program waiting.
"""

from __future__ import annotations

import contextlib
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

Stage = Callable[[Iterator[Any]], Iterator[Any]]

_POLL_SECONDS = 0.05  # how often a blocked worker checks whether the run was cancelled
_JOIN_SECONDS = 10.0  # how long to wait for workers to notice a cancellation
_END = object()  # marks the end of a stream of items


class Cancelled(Exception):
    """Raised inside a worker when another part of the run failed or the consumer stopped."""


class StageClock:
    """Busy seconds per stage: time spent in the stage, not waiting on its neighbours."""

    def __init__(self) -> None:
        self.busy: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, name: str, seconds: float) -> None:
        with self._lock:
            self.busy[name] = self.busy.get(name, 0.0) + seconds


def _clocked(name: str, stage: Stage, items: Iterator[Any], clock: StageClock) -> Iterator[Any]:
    """Runs `stage` over `items`, charging it the time between its outputs minus its waits on input."""
    waited = 0.0

    def inputs() -> Iterator[Any]:
        nonlocal waited
        while True:
            start = time.perf_counter()
            try:
                item = next(items)
            except StopIteration:
                return
            finally:
                waited += time.perf_counter() - start
            yield item

    outputs = stage(inputs())
    while True:
        start, waited_before = time.perf_counter(), waited
        try:
            item = next(outputs)
        except StopIteration:
            return
        finally:
            clock.add(name, time.perf_counter() - start - (waited - waited_before))
        yield item


def run_inline(stages: list[tuple[str, Stage]], clock: StageClock | None = None) -> Iterator[Any]:
    """The reference path: every stage chained in the calling thread."""
    clock = clock or StageClock()
    items: Iterator[Any] = iter(())
    for name, stage in stages:
        items = _clocked(name, stage, items, clock)
    return items


class _Run:
    """Shared state of one threaded run: the cancel flag and the first failure."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self.failure: BaseException | None = None
        self._lock = threading.Lock()

    def fail(self, error: BaseException) -> None:
        with self._lock:
            if self.failure is None:
                self.failure = error
        self.cancel.set()


class _Channel:
    """A bounded queue whose blocking calls give up when the run is cancelled."""

    def __init__(self, size: int, run: _Run):
        self._queue: queue.Queue = queue.Queue(maxsize=size)
        self._run = run

    def put(self, item: Any) -> None:
        while not self._run.cancel.is_set():
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                pass
        raise Cancelled

    def __iter__(self) -> Iterator[Any]:
        while not self._run.cancel.is_set():
            try:
                item = self._queue.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue
            if item is _END:
                return
            yield item
        raise Cancelled


def run_threaded(
    stages: list[tuple[str, Stage]], queue_size: int = 2, clock: StageClock | None = None
) -> Iterator[Any]:
    """Runs each stage in its own thread; yields the last stage's items in the caller's thread.

    The first exception in any stage cancels every worker and is raised from this generator.
    Closing the generator early, or an exception in the consumer, cancels the workers too.
    """
    clock = clock or StageClock()
    run = _Run()
    channels = [_Channel(queue_size, run) for _ in stages]

    def work(index: int) -> None:
        name, stage = stages[index]
        inbox = iter(channels[index - 1]) if index else iter(())
        items = _clocked(name, stage, inbox, clock)
        try:
            for item in items:
                channels[index].put(item)
            channels[index].put(_END)
        except Cancelled:
            pass
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
            run.fail(error)
        finally:
            items.close()  # runs the stage's own cleanup (closing files) in its thread

    threads = [
        threading.Thread(target=work, args=(i,), name=f"vidcolor-{name}", daemon=True)
        for i, (name, _) in enumerate(stages)
    ]
    try:
        with _signals_held():  # a Ctrl-C in Thread.start() would leave a worker running unjoined
            for thread in threads:
                thread.start()
        yield from channels[-1]
    except Cancelled:
        pass
    finally:
        run.cancel.set()
        _join(threads)
    if run.failure is not None:
        raise run.failure


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM arriving in the block are delivered when it ends. Only the main thread
    receives signals (and may set handlers), so elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {s: signal.signal(s, lambda signum, _: held.append(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in held:
            signal.raise_signal(signum)


def _join(threads: list[threading.Thread]) -> None:
    """Waits for cancelled workers. A signal arriving meanwhile (KeyboardInterrupt) is raised only
    once they are done: the caller closes the files they are using next."""
    deadline = time.monotonic() + _JOIN_SECONDS
    interrupted: BaseException | None = None
    for thread in threads:
        while True:
            try:
                thread.join(max(0.0, deadline - time.monotonic()))
                break
            except BaseException as e:  # noqa: BLE001 - re-raised below
                interrupted = interrupted or e
    if interrupted is not None:
        raise interrupted
