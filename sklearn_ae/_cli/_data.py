"""The demo's data: scikit-learn's digits, or a user's ``.npy``/``.csv`` file."""

import os
from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler

_TEST_SIZE = 0.3
# Enough for a 70/30 split to leave a few rows on each side.
_MIN_ROWS = 10


@dataclass
class Dataset:
    """The splits the demo's two comparisons use.

    Attributes
    ----------
    description, density_description : str
        One line each for the report.
    X_train, X_test : ndarray of shape (n_samples, n_features)
        Splits of the reconstruction comparison, in [0, 1].
    y_train, y_test : ndarray of shape (n_samples,) or None
        Labels, None for a user's file.
    X_density_train, X_density_test : ndarray of shape (n_samples, n_features)
        Splits of the log-likelihood comparison.
    """

    description: str
    density_description: str
    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray | None
    y_test: np.ndarray | None
    X_density_train: np.ndarray
    X_density_test: np.ndarray

    @property
    def max_n_components(self):
        """The largest latent dimension PCA can fit on the training split."""
        return min(self.X_train.shape)


def load_dataset(path, seed):
    """Load and split the digits (``path`` None) or a user's file.

    Parameters
    ----------
    path : str or None
        A ``.npy`` or ``.csv`` file; None for scikit-learn's digits.
    seed : int
        ``random_state`` of the splits and of the dequantization noise.

    Returns
    -------
    Dataset

    Raises
    ------
    ValueError
        With a one-line message naming the file, if it cannot be used.
    """
    if path is None:
        return _digits(seed)
    X = read_user_data(path)
    X_train, X_test = train_test_split(X, test_size=_TEST_SIZE, random_state=seed)
    scaler = MinMaxScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    return Dataset(
        description=(
            f"{path} ({X.shape[0]} x {X.shape[1]}, min-max scaled on the train split), "
            f"train {X_train.shape[0]} / test {X_test.shape[0]}, no labels"
        ),
        density_description=f"{path}, min-max scaled, not dequantized",
        X_train=X_train,
        X_test=X_test,
        y_train=None,
        y_test=None,
        X_density_train=X_train,
        X_density_test=X_test,
    )


def _digits(seed):
    pixels, y = load_digits(return_X_y=True)
    # Dequantization: integer pixels plus uniform noise have a density, so
    # continuous models' log-likelihoods are finite and comparable.
    noise = np.random.RandomState(seed).uniform(size=pixels.shape)
    X_train, X_test, y_train, y_test, Xd_train, Xd_test = train_test_split(
        pixels / 16, y, (pixels + noise) / 17, test_size=_TEST_SIZE, random_state=seed
    )
    return Dataset(
        description=(
            f"scikit-learn digits ({pixels.shape[0]} x {pixels.shape[1]}, pixels / 16), "
            f"train {X_train.shape[0]} / test {X_test.shape[0]}"
        ),
        density_description="dequantized digits, (pixels + U(0, 1)) / 17",
        X_train=X_train,
        X_test=X_test,
        y_train=y_train,
        y_test=y_test,
        X_density_train=Xd_train,
        X_density_test=Xd_test,
    )


def read_user_data(path):
    """Read a numeric 2-D array from a ``.npy`` or ``.csv`` file.

    A first CSV row that does not parse as numbers is taken for a header.

    Parameters
    ----------
    path : str

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), dtype float64

    Raises
    ------
    ValueError
        With a one-line message naming the file, for any problem.
    """
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".npy", ".csv"):
        raise ValueError(f"{path}: expected a .npy or .csv file, got {ext or 'no extension'!r}")
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file")
    try:
        if ext == ".npy":
            X = np.load(path, allow_pickle=False)
        else:
            skip = 0 if _first_row_is_numeric(path) else 1
            X = np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"{path}: could not read numeric data ({message})") from None
    if X.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D array (samples x features), got shape {X.shape}")
    if not (np.issubdtype(X.dtype, np.number) or X.dtype == bool) or np.iscomplexobj(X):
        raise ValueError(f"{path}: expected real numbers, got dtype {X.dtype}")
    X = X.astype(np.float64)
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{path}: contains NaN or infinite values")
    if X.shape[0] < _MIN_ROWS or X.shape[1] < 1:
        raise ValueError(
            f"{path}: need at least {_MIN_ROWS} rows and 1 column, got shape {X.shape}"
        )
    return X


def _first_row_is_numeric(path):
    # utf-8-sig: a byte-order mark would otherwise make a numeric first row
    # look like a header and lose it.
    with open(path, encoding="utf-8-sig") as f:
        for line in f:
            if line.strip():
                try:
                    [float(field) for field in line.split(",")]
                except ValueError:
                    return False
                return True
    return True


def fitting_n_components(n_components, data, *, explicit):
    """The requested latent dimensions that PCA can fit on ``data``.

    Parameters
    ----------
    n_components : list of int
    data : Dataset
    explicit : bool
        Whether the user asked for these dimensions; if so, one that does not
        fit is an error rather than a note.

    Returns
    -------
    n_components : list of int
    notes : list of str
        One line per group of dimensions left out.

    Raises
    ------
    ValueError
        If an explicit dimension does not fit, or none does.
    """
    n_train, n_features = data.X_train.shape
    limit = data.max_n_components
    shape = f"{n_features} features and {n_train} training rows"
    too_big = [d for d in n_components if d > limit]
    if not too_big:
        return n_components, []
    if explicit:
        raise ValueError(f"--n-components {too_big} exceed what the data allow ({shape})")
    kept = [d for d in n_components if d <= limit]
    if not kept:
        raise ValueError(f"the data have {shape}; pass a smaller --n-components")
    return kept, [f"n_components {too_big} skipped: the data have {shape}"]
