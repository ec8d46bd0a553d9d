"""Where the grid's cells run: in this process, in a local process pool, or on a Dask cluster.

:func:`make_executor` turns a name into a context manager that yields a
:class:`concurrent.futures.Executor` (or ``None`` for the serial run) and shuts it
down on exit.  :func:`denoisebench.bench.run_grid` submits
:func:`~denoisebench.bench.evaluate_cell` with each picklable
:class:`~denoisebench.bench.Cell` and the driver — the process that owns the
store — commits every finished cell as it completes, whichever worker computed it.

>>> from denoisebench.grid.executors import make_executor
>>> with make_executor("dask") as executor:               # doctest: +SKIP
...     run_grid(cells, store, executor=executor)

Workers cache datasets, samples and fitted denoisers per process, like the serial
run, so the results are the serial run's (same seeds, same code) up to the
``seconds`` column.  A remote Dask scheduler's workers must have this version of
``denoisebench`` (and the backends the run asks for) installed.

The process pool's workers die with the driver, however it ends: on Linux each
worker asks the kernel for ``SIGTERM`` when the driver dies
(``prctl(PR_SET_PDEATHSIG)``), and on every platform a watchdog thread in each
worker exits as soon as the driver's end of the spawn pipe closes or the worker is
reparented.  When the ``with`` block exits on an exception (``KeyboardInterrupt``
included), the workers are terminated instead of finishing their running cells,
whose results the driver would not commit anyway.  Spawned multiprocessing's
resource tracker then reads end-of-file on its pipe and exits by itself.

References
----------
Python ``concurrent.futures`` (PEP 3148); Dask.distributed ``Client.get_executor``
(https://distributed.dask.org/en/stable/api.html); Linux ``prctl(2)``
(``PR_SET_PDEATHSIG``); Python ``multiprocessing.parent_process()``.
"""
from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

__all__ = ["EXECUTORS", "ExecutorLost", "ExecutorUnavailable", "make_executor"]

#: Environment that keeps one worker on one core (numpy/torch thread pools), as Dask's nanny does.
_ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
#: Workers of a LocalCluster or process pool when none is given.
DEFAULT_WORKERS = 2
#: How long to wait for a remote Dask scheduler to answer.
SCHEDULER_TIMEOUT = "10s"
#: Seconds between a pool worker's checks that its driver is alive (the spawn pipe wakes it sooner).
PARENT_POLL_S = 0.5
#: ``prctl`` option of Linux ``<sys/prctl.h>``: signal this process when its parent thread dies.
_PR_SET_PDEATHSIG = 1


class ExecutorUnavailable(ValueError):
    """The executor cannot be made here (unknown name, missing package, unreachable scheduler)."""


class ExecutorLost(RuntimeError):
    """The executor went away during a run (a Dask scheduler killed or unreachable): a fault, exit 1."""


def _say(message):
    """One line on stderr, above a progress bar if one is drawn."""
    try:
        from tqdm import tqdm

        tqdm.write(message, file=sys.stderr)
    except ImportError:  # pragma: no cover - tqdm is a dependency
        print(message, file=sys.stderr)


def _on_cluster_event(event):
    """Dask scheduler event handler: one stderr line for a worker lost unexpectedly."""
    _, msg = event
    if isinstance(msg, dict) and msg.get("action") == "remove-worker" and not msg.get("expected"):
        running = len(msg.get("processing-tasks") or ())
        _say(f"denoisebench: lost Dask worker {msg.get('worker')} ({running} running cell(s) go to the other "
             "workers; finished cells are already stored); going on")


def _limit_threads():
    """Process-pool initializer: one compute thread per worker (set before torch is imported)."""
    os.environ.update(_ONE_THREAD)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def _parent_death_signal(sig):
    """Ask Linux to send ``sig`` to this process when its parent thread dies; False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent, poll):
    """Watchdog thread of a pool worker: ``os._exit`` once the driver ``parent`` is gone.

    The spawn pipe's sentinel (:func:`multiprocessing.parent_process`) becomes ready the
    moment the driver dies, on every platform; ``os.getppid()`` changing (the worker was
    reparented) is the POSIX check that needs nothing from multiprocessing.
    """
    driver = multiprocessing.parent_process()
    wait = time.sleep if driver is None else driver.join
    while os.getppid() == parent and (driver is None or driver.is_alive()):
        wait(poll)
    os._exit(1)


def _worker_init(parent, signal_on_death, poll=PARENT_POLL_S):
    """Process-pool initializer: one compute thread, and die with the driver ``parent``.

    ``signal_on_death``: use Linux's parent-death signal.  It fires when the *thread*
    that spawned the worker ends, so the driver asks for it only when that thread is its
    main thread.  The watchdog thread covers every other case (a pool entered from another
    thread, a worker whose ``SIGTERM`` is handled, a platform without ``prctl``): the spawn
    pipe wakes it at once; the ``os.getppid()`` check runs every ``poll`` seconds.
    """
    _limit_threads()
    if signal_on_death:
        _parent_death_signal(signal.SIGTERM)
    if os.getppid() != parent:  # the driver died before the signal was armed
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent, poll), name="denoisebench-parent-watchdog",
                     daemon=True).start()


def _stop_workers(pool):
    """Terminate ``pool``'s worker processes now (their running tasks are abandoned)."""
    terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        terminate()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()


@contextlib.contextmanager
def _serial(scheduler, workers):
    yield None


@contextlib.contextmanager
def _process(scheduler, workers):
    # 'spawn': a fork of a process whose OpenMP/torch thread pools already ran can deadlock.
    ctx = multiprocessing.get_context("spawn")
    workers = workers or DEFAULT_WORKERS
    main = threading.current_thread() is threading.main_thread()
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init,
                               initargs=(os.getpid(), main))
    try:
        for _ in range(workers):  # spawn every worker now, from this thread (the death signal's parent)
            pool.submit(int)
        yield pool
    except BaseException:
        _stop_workers(pool)  # a ^C or an error in the driver: do not wait for the running cells
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _dask_client(scheduler, workers):
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout=SCHEDULER_TIMEOUT), None
        except (OSError, TimeoutError) as exc:
            raise ExecutorUnavailable(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}") from None
    cluster = LocalCluster(n_workers=workers or DEFAULT_WORKERS, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    return Client(cluster), cluster


@contextlib.contextmanager
def _quiet_dask_logs():
    """Dask's client logs a lost scheduler as tracebacks; the run says it in one line instead."""
    import logging

    loggers = [logging.getLogger(name) for name in ("distributed", "distributed.client", "distributed.core",
                                                   "distributed.comm", "distributed.batched")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


@contextlib.contextmanager
def _dask(scheduler, workers):
    client, cluster = _dask_client(scheduler, workers)
    try:
        with _quiet_dask_logs():
            client.subscribe_topic("all", _on_cluster_event)  # a lost worker: one line on stderr
            try:
                yield client.get_executor()
            finally:
                with contextlib.suppress(Exception):  # the scheduler may be gone
                    client.unsubscribe_topic("all")
    finally:
        with _quiet_dask_logs(), contextlib.suppress(Exception):  # a lost scheduler cannot be closed cleanly
            client.close(timeout=5)
        if cluster is not None:
            cluster.close()


#: Executor kinds: name → (context manager factory ``(scheduler, workers)``, module it needs).
EXECUTORS = {"serial": (_serial, None), "process": (_process, None), "dask": (_dask, "distributed")}


def _require(module, kind):
    import importlib.util

    if module and importlib.util.find_spec(module) is None:
        raise ExecutorUnavailable(f"executor {kind!r} needs the {module!r} package: "
                                  "pip install 'dask[distributed]' (or the project's 'dask' extra)")


def make_executor(kind="serial", scheduler=None, workers=None):
    """A context manager yielding the executor ``kind`` (``None`` for ``'serial'``).

    Parameters
    ----------
    kind : {'serial', 'process', 'dask'}
        ``'serial'``: cells run one after the other in this process (yields ``None``).
        ``'process'``: a :class:`~concurrent.futures.ProcessPoolExecutor` of ``workers``
        spawned processes, one compute thread each.
        ``'dask'``: ``distributed.Client(...).get_executor()`` on the scheduler at
        ``scheduler``, or on a new ``LocalCluster(n_workers=workers, threads_per_worker=1,
        processes=True)`` when no address is given (closed on exit).
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``); only with ``kind='dask'``.
    workers : int, optional
        Processes of the pool or of the LocalCluster (default 2); only with ``'process'``,
        or ``'dask'`` without ``scheduler``.

    Raises
    ------
    ExecutorUnavailable
        A :class:`ValueError`: unknown ``kind``, ``scheduler`` without ``'dask'``,
        ``workers`` not an integer >= 1 or given where it means nothing (``'serial'``, a
        running scheduler), ``distributed`` not installed (raised here, before anything
        runs), or the scheduler unreachable (on entering).

    Notes
    -----
    The ``'process'`` pool's workers exit when the driver dies (see the module notes);
    they are spawned on entering, from the calling thread.
    """
    if kind not in EXECUTORS:
        raise ExecutorUnavailable(f"unknown executor {kind!r}; valid: {', '.join(EXECUTORS)}")
    if scheduler and kind != "dask":
        raise ExecutorUnavailable(f"--scheduler is an address of a Dask scheduler: use it with executor 'dask', "
                                  f"not {kind!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ExecutorUnavailable(f"workers must be an integer >= 1; got {workers!r}")
    if workers is not None and kind == "serial":
        raise ExecutorUnavailable(f"--workers applies to --executor process or dask, not 'serial' (got {workers})")
    if workers is not None and scheduler:
        raise ExecutorUnavailable(f"--workers sizes a local cluster; the Dask scheduler at {scheduler!r} "
                                  "has its own workers")
    factory, module = EXECUTORS[kind]
    _require(module, kind)
    return factory(scheduler, workers)
