"""``denoisebench list``: the registered datasets and available denoisers, with their parameters."""
from __future__ import annotations

import inspect

NAME = "list"
HELP = "list datasets and denoisers with their parameters"

_FLAGS = {"learns": "learns from clean training images", "needs_dataset": "built for the dataset it runs on",
          "bound": "oracle bound (sees the clean image)"}


def add_parser(sub):
    """Add ``list`` to an argparse ``sub``-parsers object."""
    p = sub.add_parser(NAME, help=HELP, description="List the registered datasets and the available denoisers "
                       "with their parameters (plugins included).")
    p.set_defaults(handler=main)
    return p


def describe(cls, exclude=()):
    """``(parameters text, first docstring line)`` of a registered class."""
    from ..registry.specs import init_params

    params = init_params(cls, exclude)
    text = ", ".join(k if v is inspect.Parameter.empty else f"{k}={v!r}" for k, v in params.items())
    doc = (inspect.getdoc(cls) or "").strip().splitlines()
    return text or "(no parameters)", doc[0] if doc else ""


def main(args):
    from ..registry import dataset_class, denoiser_class, list_datasets, list_denoisers

    print("datasets (--datasets NAME or NAME:key=value,...):")
    for name in list_datasets():
        params, doc = describe(dataset_class(name))
        print(f"  {name:<16} {params}\n  {'':<16} {doc}".rstrip())
    print("denoisers (--denoisers NAME or NAME:key=value,...):")
    for name in list_denoisers():
        cls = denoiser_class(name)
        params, doc = describe(cls, exclude=("dataset",) if cls.needs_dataset else ())
        flags = "; ".join(text for flag, text in _FLAGS.items() if getattr(cls, flag, False))
        print(f"  {name:<16} {params}" + (f"  [{flags}]" if flags else "") + f"\n  {'':<16} {doc}".rstrip())
    return 0
