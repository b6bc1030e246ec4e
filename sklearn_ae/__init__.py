"""scikit-learn transformers built on PyTorch autoencoders."""

from ._autoencoder import AutoencoderTransformer

__all__ = ["AutoencoderTransformer"]
__version__ = "0.1.0"
