"""Where the grid's cells run: in this process, in a local process pool, or on a Dask cluster.

:func:`make_executor` turns a name into a context manager that yields a
:class:`concurrent.futures.Executor` (or ``None`` for the serial run) and shuts it
down on exit.  :func:`denoisebench.bench.run_grid` submits
:func:`~denoisebench.bench.evaluate_cell` with each picklable
:class:`~denoisebench.bench.Cell` and the driver — the process that owns the
store — commits every finished cell as it completes, whichever worker computed it.

>>> from denoisebench.executors import make_executor
>>> with make_executor("dask") as executor:               # doctest: +SKIP
...     run_grid(cells, store, executor=executor)

Workers cache datasets, samples and fitted denoisers per process, like the serial
run, so the results are the serial run's (same seeds, same code) up to the
``seconds`` column.  A remote Dask scheduler's workers must have this version of
``denoisebench`` (and the backends the run asks for) installed.

References
----------
Python ``concurrent.futures`` (PEP 3148); Dask.distributed ``Client.get_executor``
(https://distributed.dask.org/en/stable/api.html).
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

__all__ = ["EXECUTORS", "ExecutorUnavailable", "make_executor"]

#: Environment that keeps one worker on one core (numpy/torch thread pools), as Dask's nanny does.
_ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
#: Workers of a LocalCluster or process pool when none is given.
DEFAULT_WORKERS = 2
#: How long to wait for a remote Dask scheduler to answer.
SCHEDULER_TIMEOUT = "10s"


class ExecutorUnavailable(ValueError):
    """The executor cannot be made here (unknown name, missing package, unreachable scheduler)."""


def _limit_threads():
    """Process-pool initializer: one compute thread per worker (set before torch is imported)."""
    os.environ.update(_ONE_THREAD)
    import sys

    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


@contextlib.contextmanager
def _serial(scheduler, workers):
    yield None


@contextlib.contextmanager
def _process(scheduler, workers):
    # 'spawn': a fork of a process whose OpenMP/torch thread pools already ran can deadlock.
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers or DEFAULT_WORKERS, mp_context=ctx,
                             initializer=_limit_threads) as pool:
        yield pool


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
def _dask(scheduler, workers):
    client, cluster = _dask_client(scheduler, workers)
    try:
        yield client.get_executor()
    finally:
        client.close()
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
        Processes of the pool or of the LocalCluster (default 2); ignored with ``scheduler``.

    Raises
    ------
    ExecutorUnavailable
        Unknown ``kind``, ``scheduler`` without ``'dask'``, ``distributed`` not installed
        (raised here, before anything runs), or the scheduler unreachable (on entering).
    """
    if kind not in EXECUTORS:
        raise ExecutorUnavailable(f"unknown executor {kind!r}; valid: {', '.join(EXECUTORS)}")
    if scheduler and kind != "dask":
        raise ExecutorUnavailable(f"--scheduler is an address of a Dask scheduler: use it with executor 'dask', "
                                  f"not {kind!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ExecutorUnavailable(f"workers must be an integer >= 1; got {workers!r}")
    factory, module = EXECUTORS[kind]
    _require(module, kind)
    return factory(scheduler, workers)
