"""A fixed set of query worker processes that can be killed and replaced.

rdflib evaluation cannot be interrupted inside a thread, so every query runs in a worker process; at its deadline the
worker is killed (SIGKILL) and a new one takes its place before the request returns, so the pool never shrinks and the
next request is served. Workers come from multiprocessing's fork server, which imports ``hipkg.serve._preload`` (the
parsed graph) once and then forks: starting a replacement takes milliseconds and never forks the threaded server
process itself. Where there is no fork server (Windows), workers are spawned and load the graph themselves.
"""
from __future__ import annotations

import logging
import multiprocessing
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

from hipkg.serve.worker import worker_main

log = logging.getLogger("hipkg.serve")


class PoolBusy(Exception):
    """No worker became free in time."""


class QueryTimeout(Exception):
    """The job ran past its deadline; its worker was killed and replaced."""


class WorkerFailed(Exception):
    """The worker died while running the job (it was replaced)."""


@dataclass(eq=False)
class _Worker:
    process: Any
    conn: Any


class WorkerPool:
    def __init__(self, size: int) -> None:
        methods = multiprocessing.get_all_start_methods()
        self._ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        if "forkserver" in methods:
            self._ctx.set_forkserver_preload(["hipkg.serve._preload"])
        self.size = size
        self.restarts = 0
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._workers: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = False

    # ------------------------------------------------------------------ lifecycle

    def start(self, ready_timeout: float = 180.0) -> None:
        """Start ``size`` workers and wait until each answers a ping."""
        workers = [self._spawn() for _ in range(self.size)]
        deadline = time.monotonic() + ready_timeout
        for w in workers:
            w.conn.send(("ping",))
            if not w.conn.poll(max(deadline - time.monotonic(), 0.1)):
                raise RuntimeError("query workers did not start in time")
            w.conn.recv()
            self._idle.put(w)

    def close(self) -> None:
        self._closed = True
        with self._lock:
            workers = list(self._workers)
        for w in workers:
            self._kill(w)

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(target=worker_main, args=(child,), name="hipkg-query-worker", daemon=True)
        process.start()
        child.close()
        w = _Worker(process, parent)
        with self._lock:
            self._workers.add(w)
        return w

    def _kill(self, w: _Worker) -> None:
        with self._lock:
            self._workers.discard(w)
        try:
            if w.process.is_alive():
                w.process.kill()
            w.process.join(5)
        except Exception:  # noqa: BLE001 - best effort
            pass
        try:
            w.conn.close()
        except OSError:
            pass

    def _replace(self, w: _Worker) -> _Worker | None:
        self._kill(w)
        if self._closed:
            return None
        self.restarts += 1
        try:
            return self._spawn()
        except Exception:  # noqa: BLE001 - keep serving with one worker fewer rather than crash
            log.exception("could not start a replacement query worker")
            return None

    # ------------------------------------------------------------------ jobs

    def heal(self) -> int:
        """Replace the idle workers that have died; return how many workers are alive (for /healthz)."""
        idle = []
        while True:
            try:
                idle.append(self._idle.get_nowait())
            except queue.Empty:
                break
        for w in idle:
            if not w.process.is_alive():
                w = self._replace(w)
            if w is not None:
                self._idle.put(w)
        with self._lock:
            return sum(1 for w in self._workers if w.process.is_alive())

    @property
    def busy(self) -> int:
        return self.size - self._idle.qsize()

    def pids(self) -> list[int]:
        with self._lock:
            return sorted(w.process.pid for w in self._workers if w.process.pid)

    def run(self, job: tuple, timeout: float, wait: float) -> tuple:
        """Run ``job`` on a free worker (waiting at most ``wait`` s for one) and return its reply.

        Blocking: call it from a thread. Raises PoolBusy, QueryTimeout or WorkerFailed.
        """
        deadline = time.monotonic() + wait
        while True:
            try:
                w = self._idle.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                raise PoolBusy from None
            if w.process.is_alive():  # a worker that died while idle is replaced before it is handed a job
                break
            fresh = self._replace(w)
            if fresh is not None:
                self._idle.put(fresh)
        replacement: _Worker | None = w
        try:
            w.conn.send(job)
            if not w.conn.poll(timeout):
                replacement = self._replace(w)
                raise QueryTimeout
            return w.conn.recv()
        except (EOFError, OSError):
            replacement = self._replace(w)
            raise WorkerFailed from None
        finally:
            if replacement is not None:
                self._idle.put(replacement)
