"""How often the VAE's data-chosen noise floor bites: the regret of its choice.

The Gaussian VAE's linear start chooses its noise floor among ``NOISE_FLOOR_CANDIDATES`` on
held-out folds: held-out rows without a rare event make a tiny floor win, and new rows with
one score catastrophically. Per data set, training size and 5 random subsets, the choice is
made as ``VAETransformer.fit`` makes it for in-memory X (``--single-split``: one 10% split, as
for a memmap), factor analysis with every candidate scores the test rows (exact log-density),
and the regret is the best candidate's score minus the chosen one's. d = 8, one BLAS thread.
"""

import math
from itertools import groupby

import _datasets as ds
import _harness as harness
import numpy as np

from sklearn_ae import _noise_floor as nf
from sklearn_ae._data import Split
from sklearn_ae._linear import factor_analysis
from sklearn_ae._scaling import held_out_folds, scale_rule

DATASETS = {
    "digits/16": ds.digits,
    "digits + rare border": ds.digits_rare_border,
    "one-hot rare category": ds.onehot_rare_category,
    "image patches 6x6": ds.image_patches,
    "manifold 3-D in 50-D, noise 1e-3": ds.manifold_small_noise,
    "breast_cancer raw": lambda: ds.bundled("breast_cancer"),
}
SIZES, D, CANDIDATES = (300, 600, None), 8, nf.NOISE_FLOOR_CANDIDATES  # None: all training rows


def test_log_density(model, X_s, scale):
    """Mean exact log-density of standardized rows under a factor model, in original units."""
    W = model.loadings
    chol = np.linalg.cholesky(W @ W.T + np.diag(model.noise_variance))
    solved, logdet = np.linalg.solve(chol, X_s.T), 2 * np.log(np.diag(chol)).sum()
    per_row = -0.5 * (X_s.shape[1] * math.log(2 * math.pi) + logdet + (solved**2).sum(axis=0))
    return float(per_row.mean() - np.log(scale).sum())


def regret(X_train, X_test, seed, single_split):
    """(the candidate chosen, the best candidate's test score minus the chosen one's)."""
    n, mean = X_train.shape[0], X_train.mean(axis=0)
    variance, constant, scale = scale_rule(mean, X_train.var(axis=0), n)
    covariance = np.cov(X_train.T, bias=True)
    covariance[constant, :] = covariance[:, constant] = 0.0
    floors = [nf.standardized_noise_floor(variance, constant, scale, *c) for c in CANDIDATES]
    rng, split = np.random.RandomState(seed), None
    if single_split:
        order, n_val = rng.permutation(n), math.ceil(0.1 * n)
        split = Split(np.sort(order[n_val:]), np.sort(order[:n_val]))
    folds = held_out_folds(X_train, mean, variance, constant, split, rng, streamed=single_split)
    _, chosen, _ = nf.gaussian_factor_model(covariance, scale, D, floors, folds)
    standardized, X_s = covariance / np.outer(scale, scale), (X_test - mean) / scale
    models = [factor_analysis(standardized, D, floor, max_iter=300) for floor in floors]
    tests = [test_log_density(model, X_s, scale) for model in models]
    return {"chosen": chosen, "regret": max(tests) - tests[chosen]}


def cases(args):
    for name, size in [(name, size) for name in args.data for size in SIZES]:
        train, test = ds.split(DATASETS[name]())
        n = len(train) if size is None else min(size, len(train))
        # Seed 100 + s draws subset s, seed s its held-out folds.
        sub = [np.random.RandomState(100 + s).permutation(len(train))[:n] for s in range(5)]
        fits = {s: lambda s=s: regret(train[sub[s]], test, s, args.single_split) for s in range(5)}
        yield harness.Case({"data": name, "n_train": n, "size": size}, fits)


def report(records, args):
    table = []
    for (data, n, _), group in groupby(records, lambda r: (r["data"], r["n_train"], r["size"])):
        runs = [r["runs"][0] for r in group]
        regrets = [run["regret"] for run in runs]
        chosen = str([run["chosen"] for run in runs])
        table.append([data, str(n), chosen, f"{np.mean(regrets):.2f}", f"{np.max(regrets):.2f}"])
    rule = "one 10% validation split" if args.single_split else "5 held-out folds"
    header = "data | n_train | chosen candidates | regret mean (nats) | regret max (nats)"
    text = f"noise-floor choice on {rule}; d={D}; 5 subsets per size; 1 BLAS thread"
    return [text, harness.Table("regret", None, header, table)]


OPTIONS = {"--data": {"nargs": "+", "choices": list(DATASETS), "default": list(DATASETS)}}
OPTIONS["--single-split"] = {"action": "store_true", "help": "one 10%% validation split"}
harness.declare(__name__, cases, report, OPTIONS)
