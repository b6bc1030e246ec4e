"""Test-suite settings: one thread for torch and BLAS; shared data fixtures.

On 2 shared CI cores, torch's and BLAS's thread pools competing with another
process made tiny-network fits up to 30x slower; the suite runs single-threaded.
"""

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"
# Lets scikit-learn's check_array_api_input run (numpy namespace) instead of skipping.
os.environ["SCIPY_ARRAY_API"] = "1"

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

torch.set_num_threads(1)
threadpool_limits(1)


@pytest.fixture(scope="session")
def digits():
    """Digits scaled to [0, 1], split 70/30 with random_state=0."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    return train_test_split(X, y, test_size=0.3, random_state=0)


@pytest.fixture(scope="session")
def dequantized_digits():
    """Digits with uniform dequantization noise, (pixels + U(0, 1)) / 17, split 70/30."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = (X + np.random.RandomState(0).uniform(size=X.shape)) / 17.0
    return train_test_split(X, y, test_size=0.3, random_state=0)


def _rewrite_saved_file(path, edit_header=None, edit_metadata=None):
    """Rewrite a saved model file's JSON header and metadata, with a matching checksum.

    ``edit_header(header, arrays)`` and ``edit_metadata(metadata)`` change
    them in place; the file stays one that passes the checksum, so a test
    reaches the check it means.
    """
    import json

    from safetensors import safe_open
    from safetensors.numpy import save_file

    from sklearn_ae._persistence import _digest

    with safe_open(str(path), framework="np") as f:
        metadata = f.metadata()
        arrays = {k: f.get_tensor(k) for k in f.keys()}
    header = json.loads(metadata["header"])
    if edit_header is not None:
        edit_header(header, arrays)
    if edit_metadata is not None:
        edit_metadata(metadata)
    metadata["header"] = json.dumps(header)
    metadata["sha256"] = _digest(metadata["header"], arrays)
    save_file(arrays, str(path), metadata=metadata)


@pytest.fixture
def rewrite_saved_file():
    """:func:`_rewrite_saved_file`: edit a saved model file behind the loader's back."""
    return _rewrite_saved_file
