"""asv benchmarks of denoisebench: speed (``time_``, ``peakmem_``) and quality (``track_``).

Run them in the current environment (``asv.conf.json`` uses ``environment_type: existing``)::

    asv machine --yes
    asv run --python=same --set-commit-hash=$(git rev-parse HEAD)   # everything (long)
    asv run --python=same --quick --bench 'Denoise.time_denoise'    # one pass, to try
    asv check --python=same                                         # what CI runs
    scripts/asv_compare.sh A B                                      # two commits, then asv compare
    asv publish && asv preview                                      # the HTML graphs

Backends absent here (CUDA torch, cupy) and combinations kept out to bound the cost raise
``NotImplementedError`` in ``setup``, which asv records as skipped.
"""
