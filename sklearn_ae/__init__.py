"""scikit-learn transformers built on PyTorch autoencoders."""

from ._autoencoder import AutoencoderTransformer
from ._persistence import load
from ._vae import VAETransformer

__all__ = ["AutoencoderTransformer", "VAETransformer", "load"]
__version__ = "0.1.0"
