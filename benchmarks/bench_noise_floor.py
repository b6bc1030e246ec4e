"""How often the VAE's data-chosen noise floor bites: the regret of its choice.

What it measures
----------------
The Gaussian VAE's linear start (factor analysis) chooses its noise floor
among ``sklearn_ae._noise_floor.NOISE_FLOOR_CANDIDATES`` on held-out folds of the
training rows (``sklearn_ae._scaling.held_out_folds``). Rare events are the
danger: if the held-out rows hold none, a tiny floor wins and new rows that
hold one score catastrophically. For each data set (70/30 split,
``random_state=0``), each training size and 5 random subsets of the training
rows of that size, this script

* makes the linear start's choice exactly as ``VAETransformer.fit`` does for
  in-memory X (5 folds), with ``--single-split`` instead on one 10% validation
  split (what a memmap gets, and what the first version of the rule used);
* fits factor analysis with every candidate floor to the subset and scores the
  test rows (exact Gaussian log-density, nats per row, original units);
* reports the chosen candidates and the regret: the best candidate's test
  score minus the chosen one's.

Only the linear start is measured (no network training), with d = 8; torch is
not used. BLAS runs on 1 thread.

``--single-split --data "digits + rare border"`` shows why 5 folds, not one split.
"""

import math

import _datasets as ds
import _harness as harness
import numpy as np

from sklearn_ae._data import Split
from sklearn_ae._linear import factor_analysis
from sklearn_ae._noise_floor import (
    NOISE_FLOOR_CANDIDATES,
    gaussian_factor_model,
    standardized_noise_floor,
)
from sklearn_ae._scaling import held_out_folds, scale_rule

DATASETS = {
    "digits/16": ds.digits,
    "digits + rare border": ds.digits_rare_border,
    "one-hot rare category": ds.onehot_rare_category,
    "image patches 6x6": ds.image_patches,
    "manifold 3-D in 50-D, noise 1e-3": ds.manifold_small_noise,
    "breast_cancer raw": lambda: ds.bundled("breast_cancer"),
}
SIZES = (300, 600, None)  # None: the whole training split
D = 8
_LOG_2PI = math.log(2 * math.pi)


def test_log_density(model, X_standardized, scale):
    """Mean exact log-density of rows under a factor model, in original units."""
    W = model.loadings
    chol = np.linalg.cholesky(W @ W.T + np.diag(model.noise_variance))
    solved = np.linalg.solve(chol, X_standardized.T)
    per_row = -0.5 * (
        X_standardized.shape[1] * _LOG_2PI
        + 2 * np.log(np.diag(chol)).sum()
        + (solved**2).sum(axis=0)
    )
    return float(per_row.mean() - np.log(scale).sum())


def regret(X_train, X_test, seed, single_split):
    """(the candidate chosen, the best candidate's test score minus the chosen one's)."""
    n = X_train.shape[0]
    mean = X_train.mean(axis=0)
    variance, constant, scale = scale_rule(mean, X_train.var(axis=0), n)
    covariance = np.cov(X_train.T, bias=True)
    covariance[constant, :] = covariance[:, constant] = 0.0
    floors = [
        standardized_noise_floor(variance, constant, scale, *c) for c in NOISE_FLOOR_CANDIDATES
    ]
    rng = np.random.RandomState(seed)
    if single_split:
        order = rng.permutation(n)
        n_val = math.ceil(0.1 * n)
        split_ = Split(np.sort(order[n_val:]), np.sort(order[:n_val]))
        folds = held_out_folds(X_train, mean, variance, constant, split_, rng, streamed=True)
    else:
        folds = held_out_folds(X_train, mean, variance, constant, None, rng, streamed=False)
    _, chosen, _ = gaussian_factor_model(covariance, scale, D, floors, folds)
    standardized = covariance / np.outer(scale, scale)
    X_s = (X_test - mean) / scale
    tests = [
        test_log_density(factor_analysis(standardized, D, floor, max_iter=300), X_s, scale)
        for floor in floors
    ]
    return {"chosen": chosen, "regret": max(tests) - tests[chosen]}


def cases(args):
    for name, size in [(name, size) for name in args.data for size in SIZES]:
        X_train, X_test = ds.split(DATASETS[name]())
        n = len(X_train) if size is None else min(size, len(X_train))
        # Seed 100 + s draws subset s, seed s its held-out folds.
        rows = [np.random.RandomState(100 + s).permutation(len(X_train))[:n] for s in range(5)]
        fits = {
            s: lambda s=s: regret(X_train[rows[s]], X_test, s, args.single_split) for s in range(5)
        }
        yield harness.Case({"data": name, "n_train": n, "size": size}, fits)


def report(records, args):
    subsets = {}
    for r in records:
        subsets.setdefault((r["data"], r["n_train"], r["size"]), []).append(r["runs"][0])
    table = []
    for (data, n, _), runs in subsets.items():
        regrets = [run["regret"] for run in runs]
        table.append([data, n, [run["chosen"] for run in runs], f"{np.mean(regrets):.2f}"])
        table[-1].append(f"{np.max(regrets):.2f}")
    rule = "one 10% validation split" if args.single_split else "5 held-out folds"
    header = "data | n_train | chosen candidates | regret mean (nats) | regret max (nats)"
    return [
        f"noise-floor choice on {rule}; d={D}; 5 subsets per size; 1 BLAS thread",
        harness.Table("regret", None, header, [list(map(str, row)) for row in table]),
    ]


def options(parser):
    parser.add_argument("--data", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    parser.add_argument("--single-split", action="store_true", help="one 10%% validation split")


BENCHMARK = harness.Benchmark(__file__, __doc__, cases, report, options)

if __name__ == "__main__":
    harness.main(BENCHMARK)
