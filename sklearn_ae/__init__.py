"""scikit-learn transformers built on PyTorch autoencoders.

:mod:`sklearn_ae.nn` holds the networks and likelihoods for use outside the
estimators (skorch, a plain PyTorch loop).
"""

from ._autoencoder import AutoencoderTransformer
from ._export import register_converters as register_onnx_converters
from ._persistence import load
from ._state import InconsistentVersionWarning
from ._vae import VAETransformer
from ._version import __version__ as __version__

__all__ = [
    "AutoencoderTransformer",
    "InconsistentVersionWarning",
    "VAETransformer",
    "load",
    "register_onnx_converters",
]
