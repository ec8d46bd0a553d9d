"""The networks: the bias-free U-Net, its training, and its safetensors weight files.

``_bfunet`` is the architecture (blind, centred or σ-conditioned; noise-level experts),
:mod:`~denoisebench.networks.train` the training loop (EDM loss weighting, checkpoints that
resume), ``_train_checks`` the checks and helpers it runs before a step is taken, and
:mod:`~denoisebench.networks.weights_io` the weight and checkpoint files (safetensors only,
never a pickle; ``_safetensors`` reads and writes the format), :mod:`~denoisebench.networks.calibration`
the ring gains a weight file may carry (a least-squares correction of a network's gain at each σ).  The
shipped weights live in
``weights/`` beside these modules.  Nothing here is imported by ``import denoisebench``:
torch is loaded only when a network is used.
"""
