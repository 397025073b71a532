"""Worker processes: their set-up (the context, Ctrl-C left to the parent, ending with the parent)
and the chunks of rows they handle.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterable, Iterator
from typing import Any

from needlecli.batch import folder
from needlecli.batch.context import Context
from needlecli.batch.history import pack
from needlecli.batch.names import Task
from needlecli.batch.reconcile import handle_chunk
from needlecli.batch.results import RowResult

_CTX: Context | None = None


def init_worker(ctx: Context, parent: int | None = None) -> None:
    """Set up a worker: the parent handles Ctrl-C (and stops the workers), so workers ignore it;
    a worker whose parent is gone (kill -9) ends at once, quietly."""
    import signal
    from multiprocessing.util import Finalize

    global _CTX
    _CTX = ctx
    Finalize(ctx, ctx.close, exitpriority=10)  # a worker's view of the register, closed as it ends
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # pool.terminate() must simply end a worker
    if folder._LOCK_FD is not None:  # the parent's hold on the folder lock is the parent's alone
        with contextlib.suppress(OSError):
            os.close(folder._LOCK_FD)
    if parent is not None:
        _end_with(parent)


def _end_with(parent: int) -> None:
    """End this worker when ``parent`` ends, before it can print a broken pipe's traceback."""
    import signal
    import sys

    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    else:  # elsewhere: look every tenth of a second
        import threading
        import time

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(0.1)
            os._exit(0)

        threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent:  # gone already, before the death signal was set
        os._exit(0)


def handle_chunk_here(tasks: list[Task]) -> list[RowResult]:
    """`reconcile.handle_chunk` in a worker process (the context was set by init_worker)."""
    assert _CTX is not None
    return [
        dataclasses.replace(r, history="", packed=pack(r.history)) if r.history else r
        for r in handle_chunk(_CTX, tasks)
    ]


def chunks(tasks: Iterable[Task], size: int) -> Iterator[list[Task]]:
    """Tasks in lists of ``size`` (the last one shorter), in order."""
    chunk: list[Task] = []
    for task in tasks:
        chunk.append(task)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def start(ctx: Context, jobs: int, method: str | None = None) -> Any:
    """A pool of ``jobs`` worker processes for ``ctx``. ``method`` is the start method: ``fork`` where
    the platform has it (the quickest), else ``spawn``; both work (the context is picklable)."""
    import multiprocessing

    if method is None:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    return multiprocessing.get_context(method).Pool(jobs, init_worker, (ctx, os.getpid()))


def results(pool: Any, tasks: Iterable[Task], size: int = 32) -> Iterator[RowResult]:
    """Each task's result, in input order. Chunks of rows: each worker's writer threads sync one file
    while it plans the next."""
    for chunk in pool.imap(handle_chunk_here, chunks(tasks, size)):
        yield from chunk


def stop(pool: Any, seconds: float = 5.0) -> None:
    """``pool.terminate()``, bounded. A worker killed while it sent its results (SIGTERM to the whole
    process group, as a service manager sends it) leaves half a message in the pool's result pipe,
    and ``terminate()`` then waits for the rest of it for ever. After ``seconds`` the workers still
    alive are killed and the stop goes on; the waiting thread is a daemon and ends with the process."""
    import multiprocessing
    import threading

    def end() -> None:
        pool.terminate()
        pool.join()

    waiter = threading.Thread(target=end, name="needle-stop-pool", daemon=True)
    waiter.start()
    waiter.join(seconds)
    if waiter.is_alive():
        for child in multiprocessing.active_children():
            child.kill()
