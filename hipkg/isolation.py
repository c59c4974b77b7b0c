"""Work in a forked child held to a deadline and a memory limit: the one place hipkg does this.

A SPARQL evaluation (rdflib or Oxigraph) or a SHACL validation cannot be interrupted inside a thread, and Oxigraph,
out of memory, aborts its whole process. So ``hipkg query``, ``kg.sparql`` and ``hipkg validate`` run such work in a
child that inherits what is loaded (fork: nothing is pickled on the way in), and the parent kills it at the deadline.
"""
from __future__ import annotations

import contextlib
import faulthandler
import multiprocessing
import os
import signal
import threading
from typing import Any, Callable, Iterator, TypeVar

from hipkg.errors import HipkgError

T = TypeVar("T")


def available() -> bool:
    """Whether work can be isolated here (no fork on Windows: the work then runs in the caller, without limits)."""
    return "fork" in multiprocessing.get_all_start_methods()


def run(work: Callable[[], T], *, timeout: float, max_memory: int | None, timed_out: Callable[[], HipkgError],
        out_of_memory: Callable[[], HipkgError], failed: Callable[[str, str], HipkgError]) -> T:
    """``work()`` in a forked child, its picklable result returned here. The child is killed after ``timeout``
    seconds (``timed_out()`` is raised), may allocate at most ``max_memory`` bytes beyond what it inherited
    (``out_of_memory()``), and a HipkgError it raises is raised here; any other failure becomes
    ``failed(detail, cause)``. The child is gone when this returns, also on SIGTERM to this process."""
    if not available():
        return work()
    ctx = multiprocessing.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(work, max_memory, sender), daemon=True)
    with _started_and_killed_on_sigterm(process):
        sender.close()
        try:
            if not receiver.poll(timeout):
                raise timed_out()
            try:
                kind, value = receiver.recv()
            except EOFError:
                process.join()
                if max_memory is not None and process.exitcode == -signal.SIGABRT:  # Rust aborts when an allocation fails
                    raise out_of_memory() from None
                raise failed(f"the worker process ended with code {process.exitcode}", "exit") from None
        finally:
            if process.is_alive():
                process.kill()
            process.join()
            receiver.close()
    if kind == "ok":
        return value
    if kind == "memory":
        raise out_of_memory()
    if kind == "error":
        raise value
    raise failed(*value)


def _child(work: Callable[[], Any], max_memory: int | None, conn: Any) -> None:  # pragma: no cover - child process
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # blocked by the parent around the fork
    if max_memory is not None:
        _limit_memory(max_memory)
    try:
        payload: tuple[str, Any] = ("ok", work())
    except MemoryError:
        payload = ("memory", None)
    except HipkgError as exc:
        payload = ("error", exc)
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
        payload = ("failed", (f"{type(exc).__name__}: {' '.join(str(exc).split())[:400]}", type(exc).__name__))
    try:
        conn.send(payload)
    except MemoryError:
        conn.send(("memory", None))
    finally:
        conn.close()


def _limit_memory(max_bytes: int) -> None:  # pragma: no cover - child process
    """Cap the child's address space at what it has now plus ``max_bytes``. Oxigraph's abort message on failing to
    allocate goes nowhere: the parent reports the limit, and the child's stderr would only repeat it, unreadably."""
    import resource  # POSIX only, as is fork

    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            held = int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # no /proc (macOS): the limit is then on the whole address space
        held = 0
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    wanted = held + max_bytes
    resource.setrlimit(resource.RLIMIT_AS, (wanted if hard == resource.RLIM_INFINITY else min(wanted, hard), hard))
    faulthandler.disable()  # it would print the abort's stack to a copy of stderr it keeps
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


@contextlib.contextmanager
def _started_and_killed_on_sigterm(process: Any) -> Iterator[None]:
    """Start the child; while it works, SIGTERM first kills it, then goes on as it would have (the previous handler,
    or the default: the process ends), so that no evaluation is left running at 100 % CPU after its parent.
    SIGTERM is blocked from before the fork until the handler is in place: one arriving in between is delivered
    then, to the handler, instead of ending this process and leaving the child behind (a CI failure, 2026-12-01)."""
    if threading.current_thread() is not threading.main_thread():
        process.start()
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # the caller's, restored once the handler is in
    try:
        process.start()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        raise

    def on_term(signum: int, _frame: object) -> None:
        process.kill()
        process.join(5)  # reaped here, not left a zombie for whoever adopts it
        signal.signal(signum, previous)
        os.kill(os.getpid(), signum)

    signal.signal(signal.SIGTERM, on_term)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
