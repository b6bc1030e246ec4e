"""The package version, written once.

pyproject.toml reads it from here (setuptools' dynamic version), the package
re-exports it as ``sklearn_ae.__version__``, and the model files and
pickles record it, so the package, its metadata, the CLI's ``--version``,
the documentation and a saved model cannot disagree.
"""

__version__ = "0.3.0.dev0"
