"""scikit-learn transformers built on PyTorch autoencoders."""

from ._autoencoder import AutoencoderTransformer
from ._export import register_converters as register_onnx_converters
from ._persistence import load
from ._vae import VAETransformer

__all__ = ["AutoencoderTransformer", "VAETransformer", "load", "register_onnx_converters"]
__version__ = "0.1.0"
