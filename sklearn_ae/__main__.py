"""``python -m sklearn_ae``: compare PCA, AutoencoderTransformer and VAETransformer."""

import sys

from ._cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
