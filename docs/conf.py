"""Sphinx configuration of the sklearn-ae documentation.

Build with ``sphinx-build -b html docs docs/_build/html`` after
``pip install sphinx numpydoc sphinx-gallery matplotlib``.
"""

import os
import sys

# The examples run headless while the gallery is built.
os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

import sklearn_ae  # noqa: E402

project = "sklearn-ae"
author = "The sklearn-ae developers"
copyright = "2025, The sklearn-ae developers"
version = release = sklearn_ae.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

exclude_patterns = ["_build"]
html_theme = "alabaster"

# numpydoc renders the class docstrings; listing every inherited method as a
# separate autosummary table only duplicates them.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "sklearn": ("https://scikit-learn.org/stable", None),
    "torch": ("https://pytorch.org/docs/stable", None),
}

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "reference_url": {"sklearn_ae": None},
    "doc_module": ("sklearn_ae",),
    "backreferences_dir": "generated",
}
