"""Every data set the benchmarks use, all offline: no other file here loads data.

Each loader returns one float64 array (rows are samples), except :func:`patches` (float32,
the training benchmarks' input), :func:`fashion_mnist` (its own training and test rows) and
:func:`odds` (rows and outlier labels). They read what scikit-learn, numpy, scipy and, for
Fashion-MNIST, Debian's ``dataset-fashion-mnist`` install, and the ODDS sets in ``ODDS_DIR``.
:func:`split` is the 70/30 split of every held-out score.
"""

import gzip
import inspect
import os
from importlib import import_module
from pathlib import Path

import numpy as np
import sklearn.datasets
from scipy import linalg
from scipy.io import loadmat
from sklearn.datasets import load_digits, load_sample_images, make_swiss_roll
from sklearn.feature_extraction.image import extract_patches_2d
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
# ODDS outlier-detection sets (.mat, from pyod's notebooks/data/): beside the checkout, or
# where the environment variable SKLEARN_AE_ODDS says.
ODDS_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "odds"
ODDS_DIR = Path(os.environ.get("SKLEARN_AE_ODDS") or ODDS_DIR)


def split(X, standardized=False):
    """(X_train, X_test): ``train_test_split(X, test_size=0.3, random_state=0)``, both
    ``standardized`` by a ``StandardScaler`` fitted on X_train if asked."""
    X_train, X_test = train_test_split(X, test_size=0.3, random_state=0)
    scale = StandardScaler().fit(X_train).transform if standardized else np.asarray
    return scale(X_train), scale(X_test)


def bundled(name):
    """The rows of scikit-learn's bundled table ``name`` (breast_cancer, wine, diabetes)."""
    return getattr(sklearn.datasets, f"load_{name}")().data


def digits(labels=False):
    """scikit-learn's digits divided by 16, in [0, 1] (1797 x 64), or their labels."""
    return load_digits().target if labels else load_digits().data / 16.0


def patches(n):
    """8x8x3 patches, ``n`` of each sample image (``RandomState(0)``), / 255, float32."""
    rng, images = np.random.RandomState(0), load_sample_images().images
    found = [extract_patches_2d(x, (8, 8), max_patches=n, random_state=rng) for x in images]
    found = np.concatenate(found)
    return (found.reshape(len(found), -1) / 255.0).astype(np.float32)


def swiss_roll_50d():
    """A swiss roll mapped into 50 dimensions by an orthonormal map, noise std 0.1."""
    X3, _ = make_swiss_roll(n_samples=1500, noise=0.05, random_state=0)
    rng = np.random.RandomState(0)
    Q, _ = np.linalg.qr(rng.randn(50, 3))  # 50 x 3, orthonormal columns
    return X3 @ Q.T + 0.1 * rng.randn(len(X3), 50)


def manifold_small_noise(n_samples=1500, noise=1e-3):
    """The swiss roll in 50-D, noise 1e-3: a floor at a fraction of the variance is too high."""
    X3, _ = make_swiss_roll(n_samples=n_samples, noise=0.0, random_state=1)
    X3 = (X3 - X3.mean(0)) / X3.std(0)
    rng = np.random.RandomState(1)
    Q, _ = np.linalg.qr(rng.randn(50, 3))
    return X3 @ Q.T + noise * rng.randn(n_samples, 50)


def fa_example():
    """(X_homo, X_hetero) of scikit-learn's PPCA/FA model-selection example, in its order."""
    n_samples, n_features, rank, sigma = 500, 25, 5, 1.0
    rng = np.random.RandomState(42)
    U, _, _ = linalg.svd(rng.randn(n_features, n_features))
    X = np.dot(rng.randn(n_samples, rank), U[:, :rank].T)
    X_homo = X + sigma * rng.randn(n_samples, n_features)
    sigmas = sigma * rng.rand(n_features) + sigma / 2.0
    return X_homo, X + rng.randn(n_samples, n_features) * sigmas


def dequantized_digits():
    """(digits + U(0, 1)) / 17: a density on the digits' pixels has a finite likelihood."""
    X = 16.0 * digits()
    return (X + np.random.RandomState(0).uniform(size=X.shape)) / 17.0


def digits_rare_border(n_border=16, rate=0.015, seed=0):
    """Digits / 16 and ``n_border`` pixels inked in about 1.5% of rows, as MNIST's border: a
    tiny variance in training, and new rows with more ink than training ever showed there."""
    X = digits()
    rng = np.random.RandomState(seed)
    border = np.zeros((X.shape[0], n_border))
    for row in np.flatnonzero(rng.rand(X.shape[0]) < rate):
        pixels = rng.choice(n_border, size=rng.randint(1, 4), replace=False)
        # Faint to full ink (log-uniform in [0.005, 1]), as MNIST's stray strokes.
        border[row, pixels] = np.exp(rng.uniform(np.log(0.005), 0.0, size=len(pixels)))
    return np.hstack([X, border])


def onehot_rare_category(n_samples=1500, seed=0):
    """10 correlated Gaussian features and a one-hot category of 12 levels, 30% to 0.2%."""
    rng = np.random.RandomState(seed)
    latent = rng.randn(n_samples, 3)
    numeric = latent @ rng.randn(3, 10) + 0.3 * rng.randn(n_samples, 10)
    probs = np.array([30, 20, 15, 10, 8, 6, 4, 3, 2, 1, 0.6, 0.4])
    probs = probs / probs.sum()
    # The category depends on the first latent factor, so it is not noise.
    logits = np.log(probs)[None, :] + 0.8 * latent[:, :1] * np.linspace(-1, 1, len(probs))
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    level = (p.cumsum(1) > rng.rand(n_samples, 1)).argmax(1)
    return np.hstack([numeric, np.eye(len(probs))[level]])


def image_patches(n_patches=3000, size=6, seed=0):
    """``size x size`` grey patches of scikit-learn's two sample images, in [0, 1]."""
    rng = np.random.RandomState(seed)
    images = [img.mean(axis=2) / 255.0 for img in load_sample_images().images]
    out = np.empty((n_patches, size * size))
    for i in range(n_patches):
        img = images[i % len(images)]
        r, c = rng.randint(img.shape[0] - size), rng.randint(img.shape[1] - size)
        out[i] = img[r : r + size, c : c + size].ravel()
    return out


def docstring_words(max_features=2000, min_df=2):
    """Word counts (like any text's, mostly rare words) of the long docstrings of numpy's,
    scipy's and scikit-learn's public API: the ``max_features`` most frequent words."""
    from sklearn.feature_extraction.text import CountVectorizer

    seen, docs = set(), []
    names = "numpy numpy.linalg scipy.linalg scipy.stats".split()
    names += [f"sklearn.{m}" for m in "decomposition linear_model metrics preprocessing".split()]
    for module in map(import_module, names):
        for obj in [getattr(module, name) for name in sorted(dir(module)) if name[0] != "_"]:
            doc = inspect.getdoc(obj) if callable(obj) else None
            if doc and len(doc) >= 200 and id(obj) not in seen:
                seen.add(id(obj))
                docs.append(doc)
    words = r"(?u)\b[a-zA-Z]{3,}\b"
    vectorizer = CountVectorizer(max_features=max_features, min_df=min_df, token_pattern=words)
    return vectorizer.fit_transform(docs).toarray().astype(np.float64)


def fashion_mnist(n_train=3500, n_test=2000, labels=False):
    """(train, test): the first images of Fashion-MNIST / 255, or their ``labels``; None
    without Debian's ``dataset-fashion-mnist`` (its label files are a few KB, images 30 MB)."""
    out, kind = [], "labels-idx1" if labels else "images-idx3"
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        path = FASHION_MNIST_DIR / f"{prefix}-{kind}-ubyte.gz"
        if not path.exists():
            return None
        with gzip.open(path, "rb") as f:
            data = f.read()
        if labels:
            out.append(np.frombuffer(data, dtype=np.uint8, offset=8)[:n].astype(np.int64))
        else:
            pixels = int.from_bytes(data[8:12], "big") * int.from_bytes(data[12:16], "big")
            out.append(np.frombuffer(data, np.uint8, offset=16).reshape(-1, pixels)[:n] / 255.0)
    return tuple(out)


def training_constant(X_train):
    """Columns constant in the training rows (scikit-learn's VarianceThreshold(0) rule)."""
    return np.ptp(X_train, axis=0) == 0


def odds(name):
    """(X, y) of the ODDS set ``name`` (cardio, glass, ionosphere, letter, pima, vowels, wbc):
    float64 rows and 0/1 labels, 1 = outlier."""
    mat = loadmat(ODDS_DIR / f"{name}.mat")
    return mat["X"].astype(np.float64), mat["y"].ravel().astype(np.int64)
