"""Order of the examples in the gallery: a reader's path, then any others by file name."""

import os

# From "what does it do" to "how do I extend and deploy it".
_ORDER = [
    "plot_latent_spaces.py",
    "plot_autoencoder_digits.py",
    "plot_vae_digits.py",
    "plot_grid_search_n_components.py",
    "plot_fa_model_selection.py",
    "plot_linear_ae_pca.py",
    "plot_anomaly_detection.py",
    "plot_denoising.py",
    "plot_conv_encoder.py",
    "plot_skorch_interop.py",
    "plot_onnx_serving.py",
]


class ExampleOrder:
    """sphinx-gallery ``within_subsection_order`` key: listed files first, in order."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        name = os.path.basename(filename)
        rank = _ORDER.index(name) if name in _ORDER else len(_ORDER)
        return rank, name

    def __repr__(self):
        return f"<{type(self).__name__}>"
