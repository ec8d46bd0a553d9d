"""Sphinx configuration of the denoisebench documentation.

Build (offline, warnings are errors; the gallery's examples run during the build):

    python -m pip install -e ".[docs]"
    sphinx-build -W --keep-going -b html docs docs/_build/html
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # the gallery's figures are drawn headless

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(ROOT))  # the package from this checkout, installed or not

import denoisebench  # noqa: E402

# -- Project -----------------------------------------------------------------
project = "denoisebench"
author = "the denoisebench developers"
copyright = "the denoisebench developers, BSD-3-Clause"  # noqa: A001
release = denoisebench.__version__
version = ".".join(release.split(".")[:2])

# -- General -----------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "dnb_cli",    # docs/_ext: the CLI reference from the argparse parsers
    "dnb_links",  # docs/_ext: repository-relative Markdown links and anchors
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.json", "auto_examples/*.md5"]
default_role = "code"  # `x` in a docstring is code, as in the Markdown pages
nitpicky = False
smartquotes = False  # help texts and options stay verbatim (no ‘’ or en dashes for --)
language = "en"

# -- MyST (Markdown pages: docs/*.md and the reports) -------------------------
myst_enable_extensions = ["colon_fence", "deflist", "attrs_inline"]
myst_heading_anchors = 3

# -- API reference: autosummary + numpydoc -----------------------------------
autosummary_generate = True
autosummary_imported_members = False
autosummary_ignore_module_all = False  # a module page documents exactly its __all__
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "none"
autodoc_member_order = "bysource"
numpydoc_show_class_members = False      # members are documented once, by autodoc
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

#: The public modules the API reference documents, beside every name of ``denoisebench.__all__``.
API_MODULES = ["testing", "registry", "datasets", "denoisers", "transforms", "inverse", "sampling", "analysis",
               "metrics", "noise", "store", "grid", "report", "networks", "perf"]



def _api_layout():
    """Where each public class and function is documented, and the public submodules of each package.

    A class or function is documented once, at its most public name: ``denoisebench.X`` first, then
    the API modules in :data:`API_MODULES` order, then their public submodules.  Every other module
    page that exports the same object links to that page instead of documenting it again.
    """
    import importlib
    import inspect
    import pkgutil

    documented_at = {id(getattr(denoisebench, name)): f"denoisebench.{name}" for name in denoisebench.__all__}
    packages = [f"denoisebench.{name}" for name in API_MODULES]
    submodules = {}
    for name in packages:
        module = importlib.import_module(name)
        if hasattr(module, "__path__"):
            exported = set(getattr(module, "__all__", ()))  # a submodule shadowed by a name it exports is left out
            submodules[name] = [f"{name}.{info.name}" for info in pkgutil.iter_modules(module.__path__)
                                if not info.name.startswith("_") and info.name not in exported]
    aliases = {}
    for name in packages + [sub for package in packages for sub in submodules.get(package, [])]:
        module = importlib.import_module(name)
        aliases[name] = {}
        for item in getattr(module, "__all__", ()):
            obj = getattr(module, item, None)
            if not (inspect.isclass(obj) or inspect.isroutine(obj)):
                continue  # constants are documented where they are exported
            if id(obj) in documented_at:
                aliases[name][item] = documented_at[id(obj)]
            else:
                documented_at[id(obj)] = f"{name}.{item}"
    return aliases, submodules


_aliases, _submodules = _api_layout()
autosummary_context = {"doc_aliases": _aliases, "public_submodules": _submodules}

# -- Gallery (examples/plot_*.py, run during the build) -----------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "image_scrapers": ("matplotlib",),
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
}

# -- HTML ---------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"denoisebench {release}"
html_static_path: list[str] = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 9,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_context = {"default_mode": "light"}
html_show_sourcelink = False


def _check_api_index(app):
    """Fail the build (a warning, which -W makes an error) when ``api/index.rst`` misses a public name."""
    from sphinx.util import logging

    text = (HERE / "api" / "index.rst").read_text(encoding="utf-8")
    listed = {line.strip().lstrip("~") for line in text.splitlines()}
    missing = [name for name in denoisebench.__all__ if f"denoisebench.{name}" not in listed]
    missing += [f"denoisebench.{m}" for m in API_MODULES if f"denoisebench.{m}" not in listed]
    if missing:
        logging.getLogger(__name__).warning("docs/api/index.rst does not list: %s", ", ".join(missing))


def setup(app):
    os.environ.setdefault("MPLBACKEND", "Agg")
    app.connect("builder-inited", _check_api_index)
