"""scikit-learn transformers built on PyTorch autoencoders.

:mod:`sklearn_ae.nn` holds the networks and likelihoods for use outside the
estimators (skorch, a plain PyTorch loop).
"""

from ._autoencoder import AutoencoderTransformer
from ._export import register_converters as register_onnx_converters
from ._persistence import load
from ._vae import VAETransformer

__all__ = ["AutoencoderTransformer", "VAETransformer", "load", "register_onnx_converters"]
# The one place the version is written: pyproject.toml reads it from here
# (setuptools' dynamic version), so the package, its metadata, the CLI's
# --version and the documentation cannot disagree.
__version__ = "0.2.0"
