"""Read and normalise an export in a second process while the loader writes to the store.

A load has two halves of about the same cost: reading and normalising the rows (CSV parsing,
time zones, hashes, H3 cells — pure Python and pandas work) and writing them (SQLite inserts, its
indexes and R*Tree). Threads do not overlap them (both halves hold the GIL most of the time:
measured, no gain), so on a machine with more than one CPU a large file is read in a forked child
process that sends each prepared batch through a queue, one or two batches ahead.

Only the parent touches the database: a child that fails or is killed leaves the store as it was,
and the parent raises the child's error (an unreadable file half-way is still refused whole). The
child dies with its parent (``PR_SET_PDEATHSIG``), so a killed load leaves no reader behind.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import pickle
import queue
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

#: Prepared batches waiting in the queue (memory: about two batches in flight).
QUEUE_DEPTH = 2

T = TypeVar("T")
B = TypeVar("B")


@dataclass
class Prepared(Generic[T]):
    """One prepared batch and the seconds its reading and preparing took."""

    value: T
    seconds: float


def parallel_possible() -> bool:
    """True where a forked reader can help: POSIX ``fork`` and more than one usable CPU."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return False
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return cpus > 1


@contextlib.contextmanager
def prepared_batches(
    batches: Iterable[B], prepare: Callable[[B], T], *, parallel: bool
) -> Iterator[Iterator[Prepared[T]]]:
    """Yield an iterator of ``prepare(batch)`` for every batch, in order.

    With ``parallel`` the batches are iterated and prepared in a forked child process (which
    inherits the open file and the iterator's state); otherwise here. Errors from iterating or
    preparing are raised in the caller where that batch would have come. Leaving the ``with``
    block stops the child, also on an error."""
    if not parallel:
        yield _inline(batches, prepare)
        return
    context = multiprocessing.get_context("fork")
    results: Any = context.Queue(maxsize=QUEUE_DEPTH)
    child = context.Process(
        target=_child,
        args=(batches, prepare, results, os.getpid()),
        name="stat311-reader",
        daemon=True,
    )
    _start_frozen(child)
    log.debug("reader process %s started", child.pid)
    try:
        yield _receive(results, child)
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        results.close()
        results.join_thread()


def _start_frozen(child: Any) -> None:
    """Fork ``child`` with everything alive moved to the collector's permanent generation
    (``gc.freeze``, as Python's documentation advises before a fork without exec): the child's
    collector then never walks nor frees what it inherits. Freeing an inherited object that
    holds another thread's state (a greenlet, a database connection's threads) crashed a child
    with SIGSEGV while collecting garbage. It also keeps the parent's memory pages shared. The
    parent's own objects go back to its collector after the fork, unless something had frozen
    objects before (the bench's timed runs), which then unfreezes them itself."""
    frozen_before = gc.get_freeze_count()
    gc.freeze()
    try:
        child.start()
    finally:
        if not frozen_before:
            gc.unfreeze()


def _inline(batches: Iterable[B], prepare: Callable[[B], T]) -> Iterator[Prepared[T]]:
    began = time.perf_counter()
    for batch in batches:
        value = prepare(batch)
        yield Prepared(value, time.perf_counter() - began)
        began = time.perf_counter()


class ReaderDied(RuntimeError):
    """The reader process ended without a result or an error to hand over: killed by a signal
    (``exitcode`` negative; e.g. SIGSEGV in a C extension after the fork) or exited."""

    def __init__(self, message: str, *, exitcode: int | None) -> None:
        super().__init__(message)
        self.exitcode = exitcode


_END = "end"
_ITEM = "item"
_ERROR = "error"


def _child(batches: Iterable[B], prepare: Callable[[B], T], results: Any, parent: int) -> None:
    _die_with_parent(parent)
    try:
        for item in _inline(batches, prepare):
            results.put((_ITEM, item))
        results.put((_END, None))
    except BaseException as exc:  # noqa: BLE001 - handed to the parent, which raises it
        results.put((_ERROR, _picklable(exc)))


def _receive(results: Any, child: Any) -> Iterator[Prepared[T]]:
    while True:
        try:
            kind, payload = results.get(timeout=1.0)
        except queue.Empty:
            if not child.is_alive():
                raise ReaderDied(
                    f"the reader process stopped without finishing (exit code {child.exitcode})",
                    exitcode=child.exitcode,
                ) from None
            continue
        if kind == _END:
            return
        if kind == _ERROR:
            raise payload
        yield payload


def _picklable(exc: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - any failure to round-trip: send a plain description
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def _die_with_parent(parent: int) -> None:
    """Ask Linux to kill this process when its parent (pid ``parent``) dies, so a killed load
    leaves no reader behind. (The parent may itself be pid 1, e.g. the command of a container.)"""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)
