"""Shared pieces of the asv benchmarks: backends by name, and what is skipped (NotImplementedError)."""
import importlib

#: asv parameter value → (denoisebench backend, device).
BACKENDS = {"numpy": ("numpy", None), "torch-cpu": ("torch", "cpu"), "torch-cuda": ("torch", "cuda"),
            "cupy": ("cupy", None)}


def skip(reason):
    """asv skips a parameter combination whose ``setup`` raises NotImplementedError."""
    raise NotImplementedError(reason)


def require(module, *older):
    """``module`` imported, or the first of its ``older`` import paths (earlier commits' layout: asv
    benchmarks the whole history), or the benchmark skipped (absent in the commit or environment)."""
    errors = []
    for name in (module, *older):
        try:
            return importlib.import_module(name)
        except ImportError as exc:
            errors.append(f"{name}: {exc}")
    skip(f"{module} is not importable: {'; '.join(errors)}")


def spine():
    """The cell record and its evaluation: ``(Cell, evaluate_cell)`` of the benchmarked commit
    (``denoisebench.grid`` and ``denoisebench.grid.runner``; ``denoisebench.runner`` before the
    package re-layout; ``denoisebench.bench`` before the split)."""
    for runner_path in ("denoisebench.grid.runner", "denoisebench.runner"):
        try:
            grid, runner = importlib.import_module("denoisebench.grid"), importlib.import_module(runner_path)
            return grid.Cell, runner.evaluate_cell
        except ImportError:
            continue
    bench = require("denoisebench.bench")
    return bench.Cell, bench.evaluate_cell


def backend(name):
    """``(backend, device)`` of the asv parameter ``name``; skipped when not available here."""
    from denoisebench._array_api import backend_available

    b, device = BACKENDS[name]
    if not backend_available(b, device):
        skip(f"backend {name} is not available here")
    return b, device


def to_backend(a, name):
    """Host array ``a`` on the backend ``name``."""
    from denoisebench._array_api import from_numpy

    return from_numpy(a, *backend(name))


def denoiser_names():
    """The denoisers registered in the benchmarked commit (read when asv discovers the benchmarks)."""
    try:
        from denoisebench import list_denoisers
    except ImportError:
        return []
    return list_denoisers()


def needs_a_file(denoiser):
    """Why ``denoiser`` cannot run by its name alone (``torchscript`` needs ``path=FILE``), or None:
    such a denoiser is "not applicable" to a benchmark, skipped like one."""
    from denoisebench.registry import denoiser_class, make_denoiser

    if getattr(denoiser_class(denoiser), "needs_dataset", False):
        return None
    try:
        list(getattr(make_denoiser(denoiser), "input_files", lambda: [])())
    except (TypeError, ValueError) as exc:
        return f"{denoiser} needs a file: {exc}"
    return None


#: Said by every ``peakmem_`` benchmark: what asv's number includes.
PEAKMEM_NOTE = ("asv's peakmem is the process's peak resident memory, so it includes the import baseline "
                "(python, numpy, scipy, torch: about 64-250 MB depending on what the benchmark imports), "
                "not only the call's own allocations: compare it across commits, not as an absolute cost.")
