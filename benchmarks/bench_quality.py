"""Quality of sklearn_ae's default fits against PCA and factor analysis.

What it measures
----------------
Every estimator runs with its default parameters plus ``random_state`` (and
``device="cpu"`` for sklearn_ae). This script limits torch to one thread
(``torch.set_num_threads(1)``) and BLAS/OpenMP to one thread
(``threadpool_limits(1)``); the printed header says so. Each data set is split
70/30 with ``train_test_split(..., test_size=0.3, random_state=0)`` unless it
has its own split; models are fitted on the training rows and scored on the
held-out rows. Fit times are wall-clock seconds of ``fit`` alone, after one
untimed warm-up fit of each sklearn_ae estimator.

Data sets (``--data`` names; loaders in ``benchmarks/_datasets.py``):

* ``digits/16``: ``load_digits`` divided by 16 (1797 x 64);
* ``breast_cancer raw`` and ``breast_cancer std``: ``load_breast_cancer`` as is,
  and standardized by a ``StandardScaler`` fitted on the training split;
* ``wine raw``: ``load_wine`` as is;
* ``diabetes``: ``load_diabetes`` as is;
* ``swiss roll 50-D``: ``make_swiss_roll(1500, noise=0.05, random_state=0)``
  mapped into 50 dimensions by a random 3 x 50 map with orthonormal rows, plus
  Gaussian noise of std 0.1 in every dimension;
* ``fa-example homo`` and ``fa-example hetero``: the data of scikit-learn's
  example "Model selection with Probabilistic PCA and Factor Analysis (FA)"
  (500 x 25, rank 5, homoscedastic and heteroscedastic noise);
* ``digits + rare border``: digits/16 plus 16 "border" pixels with ink in about
  1.5% of rows (1797 x 80);
* ``one-hot rare category``: 10 correlated Gaussian columns plus a 12-level
  one-hot category whose rarest levels occur in a handful of rows (1500 x 22);
* ``image patches 6x6``: 3000 grey 6 x 6 patches of scikit-learn's two sample
  images, in [0, 1] (3000 x 36);
* ``manifold 3-D in 50-D, noise 1e-3``: a standardized swiss roll rotated into
  50 dimensions with isotropic noise of std 1e-3 (1500 x 50);
* ``docstring words``: word counts of numpy's, scipy's and scikit-learn's API
  docstrings, 2000 most frequent words (1014 x 2000);
* ``fashion-mnist 3500/2000``: the first 3500 training and 2000 test images of
  Fashion-MNIST divided by 255, with their own split (needs Debian's
  ``dataset-fashion-mnist``; skipped, with a printed note, without it).

Latent sizes ``d``: {2, 5, 8}; ``digits/16`` and ``fashion-mnist`` also 16;
``docstring words`` only {2, 8} (it is slow). ``--quick`` keeps d in {2, 5} only.

Seeds: ``--seeds 0,1,2`` (default ``0``) fits the sklearn_ae estimators once per
seed (``random_state=seed``). PCA and FA are fitted once per (set, d): PCA
with its defaults, ``FactorAnalysis(d, random_state=0)``. Per (set, d) the
table gives the mean over seeds, and for the AE/PCA ratio and the VAE score
the spread over seeds, printed as [min, max]; a bar passes only if it passes
for every seed.

Per (set, d) and seed, on the held-out rows ("per-row MSE" is the mean over a
row's entries of the squared error of ``inverse_transform(transform(X))``):

* ``PCA(d, svd_solver="full")`` (the exact solution: the default solver is
  randomized on the wider sets and differs from run to run): mean per-row MSE
  and ``score_samples``;
* ``AutoencoderTransformer(n_components=d)``: per-row MSE. Reported: mean
  ratio AE/PCA (mean over rows of AE's MSE over PCA's), median-row ratio
  (median of AE's per-row MSE over median of PCA's) and worst-row ratio (AE's
  largest per-row MSE over PCA's largest). Bar: mean ratio <= 1 + 1e-6 (a
  model that kept its PCA start evaluates that PCA in float64 on these
  float64 rows, which puts the ratio within about 1e-12 of 1);
* ``VAETransformer(n_components=d)`` on all columns: ``score_samples`` (the
  per-row ELBO): mean, median, and the mean of the worst 1% of rows (the
  lowest ``max(1, n_test // 100)`` rows). Bar "all columns": VAE mean >=
  ``PCA.score(X_test)`` - 0.5;
* non-constant columns: the columns constant in the training rows
  (``np.ptp(X_train, axis=0) == 0``, ``_datasets.training_constant``) are
  dropped, and ``PCA(d)``, ``FactorAnalysis(d, random_state=0)`` and a second
  ``VAETransformer`` (same seed) are fitted on the remaining columns (when no
  column is constant, the all-column PCA and VAE fits are reused). FA's mean and
  worst-1% ``score_samples`` are reported. Bar "non-constant columns": VAE mean
  >= max(PCA, FA) - 0.5 on those columns;
* each sklearn_ae fit: seconds, epochs (``n_iter_``), optimizer steps and
  whether it issued a ``ConvergenceWarning`` (recorded and counted, no bar).

Optimizer steps are ``n_steps_`` when the estimator has it, otherwise
``n_iter_ * ceil(n_train / batch)`` (batch 256 for ``batch_size="auto"``,
capped at ``n_train``).

Extra tables:

* codes for classification (with ``digits/16``): accuracy on the test split of
  ``LogisticRegression(max_iter=5000)`` trained on the training split's codes,
  autoencoder (first seed) against PCA, d in {2, 8, 16} (reusing the fits above);
* dequantized digits (with ``digits/16``): ``(digits + U(0, 1)) / 17``, d=8,
  held-out VAE ELBO (``random_state=0``) against FA and PCA. Bar: VAE >= FA and
  VAE >= 54.0;
* model selection (with the ``fa-example`` sets, all 500 rows): mean 5-fold
  ``cross_val_score`` (unshuffled folds) of ``VAETransformer``,
  ``FactorAnalysis`` and ``PCA`` for d in {1, 3, 5, 8, 12, 20} and the argmax of
  each. Bar: the VAE's argmax is 5. Slow; ``--no-model-selection`` skips it;
* grid search on digits (with ``digits/16``, all 1797 rows): mean
  ``cross_val_score`` with ``KFold(5, shuffle=True, random_state=0)`` of
  ``VAETransformer(n_components=d, random_state=0, device="cpu")``, ``PCA(d)``
  and ``FactorAnalysis(d, random_state=0)`` for d in {2, 4, 8, 16, 32}. Bars:
  VAE >= PCA at every d; "single peak": the VAE curve has no drop of more than
  2 nats followed later by a rise, i.e. there are no i < j < k with
  ``curve[j] < curve[i] - 2`` and ``curve[k] > curve[j]`` (a grid search would
  stop in a false dip). ``--no-grid-search`` skips it;
* wide data cost: a dense 400 x 4000 array from a low-rank model
  (``rng = RandomState(0); X = rng.randn(400, 10) @ rng.randn(10, 4000) + 0.5 *
  rng.randn(400, 4000)``); ``FactorAnalysis(8, random_state=0).fit`` and
  ``VAETransformer(8, random_state=0, device="cpu").fit`` are timed interleaved,
  FA VAE FA VAE, for 3 pairs. Bar: median of the paired ratios VAE/FA <= 5.
  ``--no-wide-cost`` skips it.

``--quick`` also skips the model-selection, grid-search and wide-cost tables.

Running it
----------
::

    .venv/bin/python benchmarks/bench_quality.py

Options: ``--quick`` (d in {2, 5} only, no model selection, grid search or
wide-data cost; a smoke test), ``--data NAME [NAME ...]`` (restrict the data
sets), ``--seeds 0,1,2`` (seeds of the sklearn_ae fits; default 0),
``--no-model-selection``, ``--no-grid-search``, ``--no-wide-cost``, ``--json
PATH`` (write every measured number: per-(set, d) rows with their per-seed
numbers, plus the extra tables) and ``--baseline PATH`` (a JSON written by
``--json``, also by older versions of this script: adds a table of the
baseline's AE/PCA ratio, VAE score, fit times and optimizer steps next to the
current ones; comparisons the baseline lacks the numbers for are left blank).
To measure another checkout of the package, put it first on ``PYTHONPATH``;
the header prints the path and git revision of the ``sklearn_ae`` imported.
``benchmarks/baseline_quality.json`` holds the numbers of the code before the
training-core rewrite.

The report ends with "N of M bars pass" and the number of sklearn_ae fits of
the main table that issued a ``ConvergenceWarning``. Only the public API is
used, so the script runs against any version of the estimators; warnings
raised during fits are recorded, never turned into errors.
"""

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import sklearn
import torch
from _datasets import (
    dequantized_digits,
    digits_rare_border,
    docstring_words,
    fa_example,
    fashion_mnist,
    image_patches,
    manifold_small_noise,
    onehot_rare_category,
    swiss_roll_50d,
    training_constant,
)
from _report import cpu_model, markdown_table
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine
from sklearn.decomposition import PCA, FactorAnalysis
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, cross_val_score, train_test_split
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info, threadpool_limits

import sklearn_ae
from sklearn_ae import AutoencoderTransformer, VAETransformer

LATENT_SIZES = (2, 5, 8)
QUICK_LATENT_SIZES = (2, 5)
EXTRA_LATENT_SIZES = {"digits/16": (16,), "fashion-mnist 3500/2000": (16,)}
ONLY_LATENT_SIZES = {"docstring words": (2, 8)}  # slow: these sizes only
CLASSIFICATION_SIZES = (2, 8, 16)
DEQUANTIZED_D = 8
DEQUANTIZED_FLOOR = 54.0
SELECTION_SIZES = (1, 3, 5, 8, 12, 20)
SELECTION_TRUE_RANK = 5
GRID_SIZES = (2, 4, 8, 16, 32)
PEAK_DROP = 2.0  # nats: a drop larger than this followed by a rise breaks "single peak"
WIDE_SHAPE, WIDE_RANK, WIDE_D, WIDE_PAIRS = (400, 4000), 10, 8, 3
WIDE_MAX_RATIO = 5.0
VAE_SLACK = 0.5  # nats per row, for both VAE bars
# A kept PCA start is PCA in float64 on float64 rows (ratio 1 +- ~1e-12); the bar
# keeps the margin that float32 weights once needed.
AE_RATIO_ROUNDING = 1e-6


# ----------------------------------------------------------------------------
# Data. Every loader returns (X_train, X_test), or None when the data is absent.


def _split(X):
    X_train, X_test = train_test_split(X, test_size=0.3, random_state=0)
    return X_train, X_test


def _standardized(X):
    X_train, X_test = _split(X)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test)


DATASETS = {
    "digits/16": lambda: _split(load_digits().data / 16.0),
    "breast_cancer raw": lambda: _split(load_breast_cancer().data),
    "breast_cancer std": lambda: _standardized(load_breast_cancer().data),
    "wine raw": lambda: _split(load_wine().data),
    "diabetes": lambda: _split(load_diabetes().data),
    "swiss roll 50-D": lambda: _split(swiss_roll_50d()),
    "fa-example homo": lambda: _split(fa_example()[0]),
    "fa-example hetero": lambda: _split(fa_example()[1]),
    "digits + rare border": lambda: _split(digits_rare_border()),
    "one-hot rare category": lambda: _split(onehot_rare_category()),
    "image patches 6x6": lambda: _split(image_patches()),
    "manifold 3-D in 50-D, noise 1e-3": lambda: _split(manifold_small_noise()),
    "docstring words": lambda: _split(docstring_words()),
    "fashion-mnist 3500/2000": fashion_mnist,  # its own split; None when not installed
}
SELECTION_DATASETS = {
    "fa-example homo": lambda: fa_example()[0],
    "fa-example hetero": lambda: fa_example()[1],
}


def latent_sizes(name, quick):
    sizes = QUICK_LATENT_SIZES if quick else LATENT_SIZES
    if name in ONLY_LATENT_SIZES:
        return tuple(d for d in ONLY_LATENT_SIZES[name] if d in sizes)
    return sizes if quick else (*sizes, *EXTRA_LATENT_SIZES.get(name, ()))


def _pca(d):
    """The linear model's exact solution: PCA with the full SVD.

    PCA's default solver is randomized on the wider sets (docstring words,
    Fashion-MNIST) and, without a ``random_state``, finds a slightly different
    subspace on every run: its held-out error moved by up to 6e-6 relative to
    the exact one's, either way, from run to run, more than the rounding the
    AE bar allows. The AE starts from the exact solution.
    """
    return PCA(d, svd_solver="full")


def wide_data():
    rng = np.random.RandomState(0)
    n, p = WIDE_SHAPE
    return rng.randn(n, WIDE_RANK) @ rng.randn(WIDE_RANK, p) + 0.5 * rng.randn(n, p)


# ----------------------------------------------------------------------------
# Fitting and scoring.


def recorded_fit(estimator, X):
    """Fit, returning (seconds, whether a ConvergenceWarning was issued).

    Every warning is recorded (``"always"``), so none can be turned into an
    error by the caller's filters or go unseen because it was issued before.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        estimator.fit(X)
        seconds = time.perf_counter() - start
    return seconds, any(issubclass(w.category, ConvergenceWarning) for w in caught)


def optimizer_steps(estimator, n_train):
    steps = getattr(estimator, "n_steps_", None)
    if steps is not None:
        return int(steps)
    batch = 256 if estimator.batch_size == "auto" else estimator.batch_size
    return int(estimator.n_iter_ * math.ceil(n_train / min(batch, n_train)))


def row_mse(estimator, X):
    """Per-row reconstruction MSE (mean over each row's entries)."""
    return np.mean((X - estimator.inverse_transform(estimator.transform(X))) ** 2, axis=1)


def worst_mean(values):
    """Mean of the lowest 1% of ``values`` (at least one)."""
    k = max(1, len(values) // 100)
    return float(np.mean(np.sort(values)[:k]))


def fit_ours(estimator_class, d, X_train, seed=0):
    """Fit one sklearn_ae estimator; return it and its fit statistics."""
    est = estimator_class(n_components=d, random_state=seed, device="cpu")
    seconds, warned = recorded_fit(est, X_train)
    stats = {
        "fit_s": seconds,
        "steps": optimizer_steps(est, len(X_train)),
        "epochs": int(est.n_iter_),
        "convergence_warning": warned,
    }
    return est, stats


def warm_up():
    """Pay one-off costs (first torch calls, allocator) before any fit is timed."""
    X = np.random.RandomState(0).rand(64, 8)
    for estimator_class in (AutoencoderTransformer, VAETransformer):
        recorded_fit(estimator_class(max_iter=2, random_state=0, device="cpu"), X)


def measure_seed(seed, d, X_train, X_test, reference):
    """The sklearn_ae fits of one seed, scored against the linear ``reference``."""
    ae, ae_stats = fit_ours(AutoencoderTransformer, d, X_train, seed)
    vae, vae_stats = fit_ours(VAETransformer, d, X_train, seed)
    keep = reference["keep"]
    if keep is None:
        vae_nc, vae_nc_stats = vae, None
    else:
        vae_nc, vae_nc_stats = fit_ours(VAETransformer, d, X_train[:, keep], seed)

    pca_rows, ae_rows = reference["pca_rows"], row_mse(ae, X_test)
    vae_ll = vae.score_samples(X_test)
    vae_nc_ll = vae_ll if keep is None else vae_nc.score_samples(X_test[:, keep])
    result = {
        "seed": seed,
        "ae_mse": float(np.mean(ae_rows)),
        "ae_ratio": float(np.mean(ae_rows) / np.mean(pca_rows)),
        "ae_median_ratio": float(np.median(ae_rows) / np.median(pca_rows)),
        "ae_worst_mse": float(np.max(ae_rows)),
        "ae_worst_ratio": float(np.max(ae_rows) / np.max(pca_rows)),
        **{f"ae_{key}": value for key, value in ae_stats.items()},
        "vae_score": float(np.mean(vae_ll)),
        "vae_median": float(np.median(vae_ll)),
        "vae_worst1": worst_mean(vae_ll),
        **{f"vae_{key}": value for key, value in vae_stats.items()},
        "vae_nc_score": float(np.mean(vae_nc_ll)),
        "vae_nc_worst1": worst_mean(vae_nc_ll),
        "vae_nc_refit": vae_nc_stats is not None,
        **{f"vae_nc_{key}": value for key, value in (vae_nc_stats or {}).items()},
    }
    result["ae_pass"] = bool(result["ae_ratio"] <= 1.0 + AE_RATIO_ROUNDING)
    result["vae_pass"] = bool(result["vae_score"] >= reference["vae_bar"])
    result["vae_nc_pass"] = bool(result["vae_nc_score"] >= reference["vae_nc_bar"])
    return result, {"ae": ae, "vae": vae}


def measure(name, d, X_train, X_test, seeds, fitted):
    """One row of the main table; ``fitted`` caches the first seed's models."""
    pca = _pca(d).fit(X_train)
    constant = training_constant(X_train)
    keep = None if not constant.any() else ~constant
    if keep is None:
        pca_nc, Xn_train, Xn_test = pca, X_train, X_test
    else:
        Xn_train, Xn_test = X_train[:, keep], X_test[:, keep]
        pca_nc = _pca(d).fit(Xn_train)
    fa_nc = FactorAnalysis(d, random_state=0)
    _, fa_warned = recorded_fit(fa_nc, Xn_train)
    fa_ll = fa_nc.score_samples(Xn_test)

    pca_rows = row_mse(pca, X_test)
    pca_score = float(pca.score(X_test))
    pca_nc_score = float(pca_nc.score(Xn_test))
    fa_nc_score = float(np.mean(fa_ll))
    reference = {
        "keep": keep,
        "pca_rows": pca_rows,
        "vae_bar": pca_score - VAE_SLACK,
        "vae_nc_bar": max(pca_nc_score, fa_nc_score) - VAE_SLACK,
    }
    per_seed = []
    for seed in seeds:
        result, models = measure_seed(seed, d, X_train, X_test, reference)
        per_seed.append(result)
        if (name, d) not in fitted:
            fitted[name, d] = {"pca": pca, **models}

    def mean(key):
        return statistics.fmean(s[key] for s in per_seed)

    row = {
        "data": name,
        "d": d,
        "n_train": len(X_train),
        "n_test": len(X_test),
        "n_features": X_train.shape[1],
        "n_constant": int(constant.sum()),
        "seeds": list(seeds),
        "pca_mse": float(np.mean(pca_rows)),
        "pca_worst_mse": float(np.max(pca_rows)),
        "pca_score": pca_score,
        "pca_nc_score": pca_nc_score,
        "fa_nc_score": fa_nc_score,
        "fa_nc_worst1": worst_mean(fa_ll),
        "fa_convergence_warning": fa_warned,
        "vae_bar": reference["vae_bar"],
        "vae_nc_bar": reference["vae_nc_bar"],
    }
    for key in ("ae_ratio", "vae_score", "vae_nc_score"):
        row[key] = mean(key)
        row[f"{key}_min"] = min(s[key] for s in per_seed)
        row[f"{key}_max"] = max(s[key] for s in per_seed)
    for key in ("ae_mse", "ae_median_ratio", "ae_worst_mse", "ae_worst_ratio"):
        row[key] = mean(key)
    for key in ("vae_median", "vae_worst1", "vae_nc_worst1"):
        row[key] = mean(key)
    for prefix in ("ae", "vae"):
        for key in ("fit_s", "steps", "epochs"):
            row[f"{prefix}_{key}"] = mean(f"{prefix}_{key}")
        row[f"{prefix}_convergence_warnings"] = sum(
            s[f"{prefix}_convergence_warning"] for s in per_seed
        )
    if keep is not None:
        for key in ("fit_s", "steps", "epochs"):
            row[f"vae_nc_{key}"] = mean(f"vae_nc_{key}")
        row["vae_nc_convergence_warnings"] = sum(s["vae_nc_convergence_warning"] for s in per_seed)
    for bar in ("ae_pass", "vae_pass", "vae_nc_pass"):
        row[bar] = all(s[bar] for s in per_seed)
    row["per_seed"] = per_seed
    return row


def classification(X_train, X_test, y_train, y_test, models):
    """Test accuracy of a logistic regression on each model's codes."""
    result = {}
    for key, model in models.items():
        clf = LogisticRegression(max_iter=5000)
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            clf.fit(model.transform(X_train), y_train)
        result[key] = float(clf.score(model.transform(X_test), y_test))
    return result


def dequantized(d=DEQUANTIZED_D):
    X_train, X_test = _split(dequantized_digits())
    pca = _pca(d).fit(X_train)
    fa = FactorAnalysis(d, random_state=0)
    recorded_fit(fa, X_train)
    vae, stats = fit_ours(VAETransformer, d, X_train)
    row = {
        "data": "digits dequantized",
        "d": d,
        "pca_score": float(pca.score(X_test)),
        "fa_score": float(fa.score(X_test)),
        "vae_score": float(vae.score(X_test)),
        **{f"vae_{key}": value for key, value in stats.items()},
    }
    row["vae_pass"] = bool(
        row["vae_score"] >= row["fa_score"] and row["vae_score"] >= DEQUANTIZED_FLOOR
    )
    return row


def cv_curve(make_estimator, X, sizes, log, cv=5):
    """Mean CV score per d, plus total seconds and folds with a ConvergenceWarning."""
    curve = []
    for d in sizes:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            start = time.perf_counter()
            scores = cross_val_score(make_estimator(d), X, cv=cv)
            seconds = time.perf_counter() - start
        warned = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
        curve.append(
            {"d": d, "cv_score": float(np.mean(scores)), "seconds": seconds, "cw": warned}
        )
        log(f"    d={d}: {curve[-1]['cv_score']:.3f} ({seconds:.1f} s)")
    return curve


CV_ESTIMATORS = {
    "vae": lambda d: VAETransformer(n_components=d, random_state=0, device="cpu"),
    "fa": lambda d: FactorAnalysis(d, random_state=0),
    "pca": lambda d: _pca(d),
}


def model_selection(name, X, log):
    result = {"data": name}
    for key, make in CV_ESTIMATORS.items():
        log(f"  model selection, {name}, {key}")
        curve = cv_curve(make, X, SELECTION_SIZES, log)
        result[key] = curve
        result[f"{key}_argmax"] = max(curve, key=lambda p: p["cv_score"])["d"]
    result["vae_pass"] = result["vae_argmax"] == SELECTION_TRUE_RANK
    return result


def has_false_dip(curve, drop=PEAK_DROP):
    """Whether some i < j < k has curve[j] < curve[i] - drop and curve[k] > curve[j]."""
    n = len(curve)
    for j in range(1, n - 1):
        dropped = any(curve[j] < curve[i] - drop for i in range(j))
        if dropped and any(curve[k] > curve[j] for k in range(j + 1, n)):
            return True
    return False


def grid_search(log):
    X = load_digits().data / 16.0
    cv = KFold(5, shuffle=True, random_state=0)
    result = {"data": "digits/16", "sizes": list(GRID_SIZES)}
    for key, make in CV_ESTIMATORS.items():
        log(f"  grid search on digits, {key}")
        result[key] = cv_curve(make, X, GRID_SIZES, log, cv=cv)
    vae = [p["cv_score"] for p in result["vae"]]
    pca = [p["cv_score"] for p in result["pca"]]
    result["vae_ge_pca"] = [bool(v >= p) for v, p in zip(vae, pca)]
    result["vae_ge_pca_pass"] = all(result["vae_ge_pca"])
    result["single_peak_pass"] = not has_false_dip(vae)
    return result


def wide_cost(log):
    X = wide_data()
    pairs = []
    for i in range(WIDE_PAIRS):
        fa_s, fa_warned = recorded_fit(FactorAnalysis(WIDE_D, random_state=0), X)
        vae = VAETransformer(n_components=WIDE_D, random_state=0, device="cpu")
        vae_s, vae_warned = recorded_fit(vae, X)
        pairs.append(
            {
                "fa_s": fa_s,
                "vae_s": vae_s,
                "ratio": vae_s / fa_s,
                "vae_epochs": int(vae.n_iter_),
                "vae_convergence_warning": vae_warned,
                "fa_convergence_warning": fa_warned,
            }
        )
        log(f"  wide data cost, pair {i + 1}: FA {fa_s:.2f} s, VAE {vae_s:.2f} s")
    ratio = statistics.median(p["ratio"] for p in pairs)
    return {
        "shape": list(WIDE_SHAPE),
        "d": WIDE_D,
        "pairs": pairs,
        "median_ratio": ratio,
        "vae_pass": bool(ratio <= WIDE_MAX_RATIO),
    }


# ----------------------------------------------------------------------------
# Output.


def verdict(ok):
    return "PASS" if ok else "FAIL"


def _with_spread(row, key, fmt):
    """The mean over seeds, with [min, max] when more than one seed ran."""
    text = format(row[key], fmt)
    if len(row["seeds"]) > 1:
        text += f" [{row[f'{key}_min']:{fmt}}, {row[f'{key}_max']:{fmt}}]"
    return text


def main_table(rows):
    header = [
        "data",
        "d",
        "AE/PCA mean",
        "AE/PCA median-row",
        "AE worst/PCA worst",
        "PCA score all cols",
        "VAE mean all cols",
        "VAE median",
        "VAE worst 1%",
        "PCA nc",
        "FA nc",
        "FA nc worst 1%",
        "VAE nc mean",
        "AE fit s",
        "VAE fit s",
        "AE bar",
        "VAE bar all cols",
        "VAE bar nc",
    ]
    table = [
        [
            row["data"],
            row["d"],
            _with_spread(row, "ae_ratio", ".4f"),
            f"{row['ae_median_ratio']:.3f}",
            f"{row['ae_worst_ratio']:.3f}",
            f"{row['pca_score']:.2f}",
            _with_spread(row, "vae_score", ".2f"),
            f"{row['vae_median']:.2f}",
            f"{row['vae_worst1']:.2f}",
            f"{row['pca_nc_score']:.2f}" if row["n_constant"] else "=",
            f"{row['fa_nc_score']:.2f}",
            f"{row['fa_nc_worst1']:.2f}",
            f"{row['vae_nc_score']:.2f}" if row["n_constant"] else "=",
            f"{row['ae_fit_s']:.2f}",
            f"{row['vae_fit_s']:.2f}",
            verdict(row["ae_pass"]),
            verdict(row["vae_pass"]),
            verdict(row["vae_nc_pass"]),
        ]
        for row in rows
    ]
    return markdown_table(header, table)


def _cw(row, prefix):
    count = row.get(f"{prefix}_convergence_warnings")
    return "" if count is None else f"{count}/{len(row['seeds'])}"


def fit_table(rows):
    header = [
        "data",
        "d",
        "n_train",
        "n_test",
        "features",
        "constant in train",
        "AE epochs",
        "AE steps",
        "AE ConvergenceWarning",
        "VAE epochs",
        "VAE steps",
        "VAE ConvergenceWarning",
        "VAE nc fit s",
        "VAE nc epochs",
        "VAE nc ConvergenceWarning",
    ]
    table = []
    for row in rows:
        refit = row["n_constant"] > 0
        table.append(
            [
                row["data"],
                row["d"],
                row["n_train"],
                row["n_test"],
                row["n_features"],
                row["n_constant"],
                f"{row['ae_epochs']:.0f}",
                f"{row['ae_steps']:.0f}",
                _cw(row, "ae"),
                f"{row['vae_epochs']:.0f}",
                f"{row['vae_steps']:.0f}",
                _cw(row, "vae"),
                f"{row['vae_nc_fit_s']:.2f}" if refit else "",
                f"{row['vae_nc_epochs']:.0f}" if refit else "",
                _cw(row, "vae_nc"),
            ]
        )
    return markdown_table(header, table)


def _number(value, fmt):
    return "" if value is None else format(value, fmt)


def _ratio(now, before):
    return "" if now is None or not before else f"{now / before:.2f}"


def baseline_table(rows, baseline):
    """Now against before; a cell is blank when the baseline lacks its number."""
    header = [
        "data",
        "d",
        "AE/PCA",
        "AE/PCA (before)",
        "VAE mean",
        "VAE mean (before)",
        "AE fit s",
        "AE fit s (before)",
        "AE fit s now/before",
        "AE steps",
        "AE steps (before)",
        "VAE fit s",
        "VAE fit s (before)",
        "VAE fit s now/before",
        "VAE steps",
        "VAE steps (before)",
    ]
    table = []
    for row in rows:
        before = baseline.get((row["data"], row["d"]), {})
        table.append(
            [
                row["data"],
                row["d"],
                f"{row['ae_ratio']:.4f}",
                _number(before.get("ae_ratio"), ".4f"),
                f"{row['vae_score']:.2f}",
                _number(before.get("vae_score"), ".2f"),
                f"{row['ae_fit_s']:.2f}",
                _number(before.get("ae_fit_s"), ".2f"),
                _ratio(row["ae_fit_s"], before.get("ae_fit_s")),
                f"{row['ae_steps']:.0f}",
                _number(before.get("ae_steps"), ".0f"),
                f"{row['vae_fit_s']:.2f}",
                _number(before.get("vae_fit_s"), ".2f"),
                _ratio(row["vae_fit_s"], before.get("vae_fit_s")),
                f"{row['vae_steps']:.0f}",
                _number(before.get("vae_steps"), ".0f"),
            ]
        )
    return markdown_table(header, table)


def selection_tables(results):
    curves, summary = [], []
    for res in results:
        for i, d in enumerate(SELECTION_SIZES):
            cells = []
            for key in ("vae", "fa", "pca"):
                mark = " *" if res[f"{key}_argmax"] == d else ""
                cells.append(f"{res[key][i]['cv_score']:.3f}{mark}")
            vae_point = res["vae"][i]
            curves.append([res["data"], d, *cells, f"{vae_point['seconds']:.1f}", vae_point["cw"]])
        vae_scores = [p["cv_score"] for p in res["vae"]]
        summary.append(
            [
                res["data"],
                res["vae_argmax"],
                res["fa_argmax"],
                res["pca_argmax"],
                f"{max(vae_scores) - min(vae_scores):.3f}",
                verdict(res["vae_pass"]),
            ]
        )
    return (
        markdown_table(
            [
                "data",
                "d",
                "VAE CV score",
                "FA CV score",
                "PCA CV score",
                "VAE s (5 fits)",
                "VAE folds with ConvergenceWarning",
            ],
            curves,
        )
        + "\n\n(* marks each estimator's argmax)\n\n"
        + markdown_table(
            [
                "data",
                "VAE argmax d",
                "FA argmax d",
                "PCA argmax d",
                "VAE curve max - min",
                f"VAE argmax == {SELECTION_TRUE_RANK}",
            ],
            summary,
        )
    )


def grid_table(res):
    table = []
    for i, d in enumerate(res["sizes"]):
        vae = res["vae"][i]
        table.append(
            [
                d,
                f"{vae['cv_score']:.3f}",
                f"{res['pca'][i]['cv_score']:.3f}",
                f"{res['fa'][i]['cv_score']:.3f}",
                verdict(res["vae_ge_pca"][i]),
                f"{vae['seconds']:.1f}",
                vae["cw"],
            ]
        )
    return (
        markdown_table(
            [
                "d",
                "VAE CV score",
                "PCA CV score",
                "FA CV score",
                "VAE >= PCA",
                "VAE s (5 fits)",
                "VAE folds with ConvergenceWarning",
            ],
            table,
        )
        + "\n\n"
        + markdown_table(
            ["VAE >= PCA at every d", f"single peak (no drop > {PEAK_DROP:g} nats, then a rise)"],
            [[verdict(res["vae_ge_pca_pass"]), verdict(res["single_peak_pass"])]],
        )
    )


def wide_table(res):
    table = [
        [
            i + 1,
            f"{p['fa_s']:.2f}",
            f"{p['vae_s']:.2f}",
            f"{p['ratio']:.2f}",
            p["vae_epochs"],
            "yes" if p["vae_convergence_warning"] else "no",
        ]
        for i, p in enumerate(res["pairs"])
    ]
    return (
        markdown_table(
            ["pair", "FA fit s", "VAE fit s", "VAE/FA", "VAE epochs", "VAE ConvergenceWarning"],
            table,
        )
        + "\n\n"
        + markdown_table(
            ["median VAE/FA", f"bar <= {WIDE_MAX_RATIO:g}"],
            [[f"{res['median_ratio']:.2f}", verdict(res["vae_pass"])]],
        )
    )


def _git_revision(path):
    """Commit of the checkout holding ``path``, and whether it has uncommitted edits."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=path, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "."], cwd=path, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "unknown revision"
    return f"{head or 'unknown revision'}{' + uncommitted changes' if dirty else ''}"


def load_baseline(path):
    """Rows of a ``--json`` file, keyed by (data, d)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    rows = data["rows"] if isinstance(data, dict) else data
    return {(row["data"], row["d"]): row for row in rows}


# ----------------------------------------------------------------------------
# Main.


def _seeds(text):
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}")
    if not seeds:
        raise argparse.ArgumentTypeError("give at least one seed")
    return seeds


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="d in {2, 5}; no model selection, grid search or wide-data cost",
    )
    parser.add_argument("--data", nargs="+", choices=list(DATASETS), help="data sets to run")
    parser.add_argument(
        "--seeds",
        type=_seeds,
        default=[0],
        help="comma-separated seeds of the sklearn_ae fits, e.g. 0,1,2 (default 0)",
    )
    parser.add_argument(
        "--no-model-selection",
        dest="model_selection",
        action="store_false",
        help="skip the (slow) cross-validated model selection",
    )
    parser.add_argument(
        "--no-grid-search",
        dest="grid_search",
        action="store_false",
        help="skip the cross-validated grid search on digits",
    )
    parser.add_argument(
        "--no-wide-cost",
        dest="wide_cost",
        action="store_false",
        help="skip the 400 x 4000 fit-time comparison with FactorAnalysis",
    )
    parser.add_argument("--json", type=Path, help="write all measured numbers to this file")
    parser.add_argument("--baseline", type=Path, help="a --json file to compare with")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        run(args)


def run(args):
    def log(message):
        print(message, file=sys.stderr, flush=True)

    wall_start = time.perf_counter()
    package_dir = Path(sklearn_ae.__file__).resolve().parent
    blas = ", ".join(
        sorted({f"{i['internal_api']}:{i['num_threads']}" for i in threadpool_info()})
    )
    meta = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["benchmarks/bench_quality.py", *sys.argv[1:]]),
        "sklearn_ae": str(package_dir),
        "revision": _git_revision(package_dir),
        "cpu": cpu_model(),
        "seeds": list(args.seeds),
        "torch_threads": torch.get_num_threads(),
        "blas_threads": blas,
        "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "sklearn": sklearn.__version__,
            "numpy": np.__version__,
        },
    }
    print(
        f"threads: limited by this script to 1: torch {meta['torch_threads']}, "
        f"BLAS/OpenMP ({blas}); OMP_NUM_THREADS={meta['omp_num_threads_env']}; "
        f"{os.cpu_count()} logical cores ({meta['cpu']})"
    )
    print(f"sklearn_ae: {meta['sklearn_ae']} at {meta['revision']}")
    print(
        "torch {torch}, scikit-learn {sklearn}, numpy {numpy}, Python {python}".format(
            **meta["versions"]
        )
    )
    print(f"seeds of the sklearn_ae fits: {', '.join(map(str, args.seeds))}")
    print(f"date: {meta['date']}; command: {meta['command']}\n")

    baseline = load_baseline(args.baseline) if args.baseline else None
    names = args.data or list(DATASETS)

    warm_up()
    rows, fitted, skipped = [], {}, []
    for name in names:
        data = DATASETS[name]()
        if data is None:
            note = f"note: skipped {name}: Debian's dataset-fashion-mnist is not installed"
            print(note)
            skipped.append(name)
            continue
        X_train, X_test = data
        for d in latent_sizes(name, args.quick):
            start = time.perf_counter()
            rows.append(measure(name, d, X_train, X_test, args.seeds, fitted))
            log(f"{name}, d={d}: {time.perf_counter() - start:.1f} s")
    meta["skipped"] = skipped

    extras = {}
    if "digits/16" in names:
        digits = load_digits()
        X_train, X_test = DATASETS["digits/16"]()
        y_train, y_test = _split(digits.target)
        extras["classification"] = []
        for d in CLASSIFICATION_SIZES:
            if ("digits/16", d) not in fitted:  # --quick
                continue
            models = fitted["digits/16", d]
            acc = classification(
                X_train, X_test, y_train, y_test, {"ae": models["ae"], "pca": models["pca"]}
            )
            extras["classification"].append(
                {"d": d, "ae_accuracy": acc["ae"], "pca_accuracy": acc["pca"]}
            )
        log("dequantized digits")
        extras["dequantized"] = dequantized()
    selection_names = [name for name in names if name in SELECTION_DATASETS]
    if args.model_selection and not args.quick and selection_names:
        extras["model_selection"] = [
            model_selection(name, SELECTION_DATASETS[name](), log) for name in selection_names
        ]
    if args.grid_search and not args.quick and "digits/16" in names:
        extras["grid_search"] = grid_search(log)
    if args.wide_cost and not args.quick:
        extras["wide_cost"] = wide_cost(log)
    meta["wall_s"] = time.perf_counter() - wall_start

    print("## Default fits against PCA and FA: held-out rows\n")
    print(
        "AE/PCA: reconstruction MSE ratios (mean over rows, median row, worst row). "
        "Scores are held-out log-likelihoods in nats per row (VAE: ELBO from "
        "score_samples); worst 1% is the mean of the lowest max(1, n_test // 100) rows. "
        "nc: fitted on the columns not constant in the training rows "
        '("=": no such column, same as all columns). '
        f"Bars: AE/PCA mean <= 1 + {AE_RATIO_ROUNDING:g}; "
        f"VAE all cols >= PCA score - {VAE_SLACK:g}; "
        f"VAE nc >= max(PCA nc, FA nc) - {VAE_SLACK:g}. "
        + (
            f"Means over seeds {', '.join(map(str, args.seeds))} ([min, max] in brackets); "
            "a bar passes only if it passes for every seed."
            if len(args.seeds) > 1
            else f"Seed {args.seeds[0]}."
        )
        + "\n"
    )
    print(main_table(rows) + "\n")
    print("## Fit statistics (means over seeds; ConvergenceWarning: warned fits / seeds)\n")
    print(fit_table(rows) + "\n")
    if baseline is not None:
        print(f"## Against the baseline {args.baseline}\n")
        print(baseline_table(rows, baseline) + "\n")
    if extras.get("classification"):
        print("## digits/16: logistic regression on the codes, test accuracy\n")
        print(
            markdown_table(
                ["d", "AE", "PCA"],
                [
                    [c["d"], f"{c['ae_accuracy']:.3f}", f"{c['pca_accuracy']:.3f}"]
                    for c in extras["classification"]
                ],
            )
            + "\n"
        )
    if "dequantized" in extras:
        dq = extras["dequantized"]
        print(f"## Dequantized digits, d={dq['d']}: held-out mean log-likelihood\n")
        print(
            markdown_table(
                [
                    "VAE ELBO",
                    "FA score",
                    "PCA score",
                    f"VAE >= FA and >= {DEQUANTIZED_FLOOR}",
                    "VAE fit s",
                    "VAE steps",
                    "VAE epochs",
                    "ConvergenceWarning",
                ],
                [
                    [
                        f"{dq['vae_score']:.2f}",
                        f"{dq['fa_score']:.2f}",
                        f"{dq['pca_score']:.2f}",
                        verdict(dq["vae_pass"]),
                        f"{dq['vae_fit_s']:.2f}",
                        dq["vae_steps"],
                        dq["vae_epochs"],
                        "yes" if dq["vae_convergence_warning"] else "no",
                    ]
                ],
            )
            + "\n"
        )
    if "model_selection" in extras:
        print("## Model selection on the fa-example data: mean 5-fold CV score\n")
        print(selection_tables(extras["model_selection"]) + "\n")
    if "grid_search" in extras:
        print("## Grid search on digits/16: mean 5-fold CV score (shuffled KFold)\n")
        print(grid_table(extras["grid_search"]) + "\n")
    if "wide_cost" in extras:
        n, p = WIDE_SHAPE
        print(f"## Wide data cost: {n} x {p}, d={WIDE_D}, fit seconds, FA and VAE interleaved\n")
        print(wide_table(extras["wide_cost"]) + "\n")

    bars = [row[key] for row in rows for key in ("ae_pass", "vae_pass", "vae_nc_pass")]
    bars += [extras["dequantized"]["vae_pass"]] if "dequantized" in extras else []
    bars += [res["vae_pass"] for res in extras.get("model_selection", [])]
    if "grid_search" in extras:
        bars += [extras["grid_search"][key] for key in ("vae_ge_pca_pass", "single_peak_pass")]
    bars += [extras["wide_cost"]["vae_pass"]] if "wide_cost" in extras else []
    warned = sum(
        s[f"{prefix}_convergence_warning"]
        for row in rows
        for s in row["per_seed"]
        for prefix in ("ae", "vae", "vae_nc")
        if f"{prefix}_convergence_warning" in s
    )
    n_fits = sum(2 + s["vae_nc_refit"] for row in rows for s in row["per_seed"])
    print(f"{sum(bars)} of {len(bars)} bars pass")
    print(f"sklearn_ae fits of the main table with a ConvergenceWarning: {warned} of {n_fits}")
    print(f"total run time: {meta['wall_s']:.0f} s")

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"meta": meta, "rows": rows, **extras}
        args.json.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
        log(f"written to {args.json}")


if __name__ == "__main__":
    main()
