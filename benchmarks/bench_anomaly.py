"""Outlier detection on 7 ODDS sets: AE and VAE scores against PCA's and PPCA's, pyod's way.

pyod's protocol: split i of ``--splits`` is ``train_test_split(X, y, test_size=0.4,
random_state=RandomState(i))``; d holds 90% of the variance of the training part standardized
by a ``StandardScaler``. On "standardized" and "raw" input (same d) each model fitted on the
training part scores the test part (minus ``score_samples``; PCA: its squared reconstruction
error): ROC AUC. The linear twin of the AE is PCA's reconstruction error, of the VAE PPCA's
``score_samples``; both estimators run with ``random_state=i``, by default and with
``selection="contrast"``; IsolationForest is a reference. ``paired``: per split, the mean over
the sets of AUC(estimator) - AUC(twin), then its mean and t-interval over the splits. Each
fit's AUC, ``best_epoch_`` (0: the linear start kept), warnings and seconds are recorded. A
pool of ``--workers`` processes (1 torch, 1 BLAS thread each) fits; the cases collect.

Data: Shebuti Rayana (2016). ODDS Library [http://odds.cs.stonybrook.edu]. Stony Brook, NY:
Stony Brook University, Department of Computer Science (redistributed in pyod's repository,
notebooks/data/), read by ``_datasets.odds`` from ../shared/data/odds or ``SKLEARN_AE_ODDS``.
"""

import multiprocessing
import sys
import warnings

import _datasets as ds
import _harness as harness
import numpy as np
from scipy import stats
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sklearn_ae import AutoencoderTransformer as AE
from sklearn_ae import VAETransformer as VAE

SETS = "cardio glass ionosphere letter pima vowels wbc".split()
INPUTS, MANY = ("standardized", "raw"), 20  # MANY: expected test outliers of a "large" set


def reconstruction(pca, T):
    return -((T - pca.inverse_transform(pca.transform(T))) ** 2).sum(1)


CONTRAST = {"selection": "contrast"}
MODELS = {  # key: (column, estimator of (d, split), score of test rows; None: score_samples)
    "pca": ("PCA reconstruction", lambda d, i: PCA(d), reconstruction),
    "ae": ("AE", lambda d, i: AE(d, random_state=i), None),
    "ae_contrast": ("AE contrast", lambda d, i: AE(d, random_state=i, **CONTRAST), None),
    "ppca": ("PPCA", lambda d, i: PCA(d), None),
    "vae": ("VAE", lambda d, i: VAE(d, random_state=i), None),
    "vae_contrast": ("VAE contrast", lambda d, i: VAE(d, random_state=i, **CONTRAST), None),
    "iforest": ("IsolationForest", lambda d, i: IsolationForest(random_state=i), None),
}  # fmt: skip
PAIRS = {"ae": "pca", "ae_contrast": "pca", "vae": "ppca", "vae_contrast": "ppca"}
RECOMMENDED = ("ae_contrast", "vae_contrast")  # what docs/guide/anomaly.rst tells a user to set


def fit_split(name, i):
    """Every fit of set ``name``'s split ``i`` (in a worker process)."""
    X, y = ds.odds(name)
    rng = np.random.RandomState(i)
    X_train, X_test, _, y_test = train_test_split(X, y, test_size=0.4, random_state=rng)
    scaler = StandardScaler().fit(X_train)
    S_train, S_test = scaler.transform(X_train), scaler.transform(X_test)
    d = int(np.searchsorted(np.cumsum(PCA().fit(S_train).explained_variance_ratio_), 0.9) + 1)
    fits = {"standardized": {}, "raw": {}}
    for kind, train, test in [("standardized", S_train, S_test), ("raw", X_train, X_test)]:
        for key, (_, make, score) in MODELS.items():
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                est, (seconds, _) = harness.timed(make(d, i).fit, train)
            auc = roc_auc_score(y_test, -(score or type(est).score_samples)(est, test))
            warned = sorted({f"{w.category.__name__}: {str(w.message)[:120]}" for w in caught})
            best = getattr(est, "best_epoch_", None)
            fits[kind][key] = {
                "auc": auc,
                "best_epoch": best,
                "warnings": warned,
                "fit_s": seconds,
            }
    shape, expected = f"{X.shape[0]} x {X.shape[1]}", len(y_test) * y.mean()
    return {"shape": shape, "d": d, "outliers": int(y_test.sum()), "expected": expected, **fits}


def cases(args):
    if not ds.ODDS_DIR.is_dir():
        sys.exit(f"bench_anomaly: no ODDS folder {ds.ODDS_DIR} (SKLEARN_AE_ODDS names another)")
    n, context = 2 if args.quick else args.splits, multiprocessing.get_context("spawn")
    with context.Pool(args.workers, harness.limit_threads, (1,)) as pool:
        jobs = {(s, i): pool.apply_async(fit_split, (s, i)) for s in args.sets for i in range(n)}
        for (s, i), job in jobs.items():
            yield harness.Case({"set": s, "split": i}, {"fits": job.get})


def report(records, args):
    sets = list(dict.fromkeys(r["set"] for r in records))
    runs = {s: [r["runs"][0] for r in records if r["set"] == s] for s in sets}
    n, labels = len(runs[sets[0]]), [label for label, _, _ in MODELS.values()]

    def auc(kind, key):  # sets x splits
        return np.array([[run[kind][key]["auc"] for run in runs[s]] for s in sets])

    def cell(a):
        return f"{np.mean(a):.3f} ± {np.std(a, ddof=1):.3f}"

    tables, paired, bars = [], [], []
    header = ["set", "n x D", "test outliers", "d", *labels]
    for kind in INPUTS:
        rows = []
        for j, (s, first) in enumerate((s, runs[s][0]) for s in sets):
            count = [run["outliers"] for run in runs[s]]
            outliers = f"{first['expected']:.0f} ({min(count)}-{max(count)})"
            d = f"{np.median([run['d'] for run in runs[s]]):g}"
            rows.append([s, first["shape"], outliers, d, *(cell(auc(kind, k)[j]) for k in MODELS)])
        means = [cell(auc(kind, k).mean(0)) for k in MODELS]
        rows.append([f"mean ({len(sets)} sets)", "", "", "", *means])
        title = f"ROC AUC, {kind} input: mean ± sd over {n} splits"
        tables.append(harness.Table(kind, title, header, rows))
    many = [j for j, s in enumerate(sets) if runs[s][0]["expected"] >= MANY]
    for kind in INPUTS:
        for key, base in PAIRS.items():
            diff = auc(kind, key) - auc(kind, base)
            per_split, per_set = diff.mean(0), diff.mean(1)
            half = stats.t.ppf(0.975, n - 1) * per_split.std(ddof=1) / np.sqrt(n)
            worst, large = per_set.argmin(), min(many, key=per_set.__getitem__, default=None)
            fits = [run[kind][key] for s in sets for run in runs[s]]
            name = f"{MODELS[key][0]} - {MODELS[base][0]}"
            m = per_split.mean()
            mean = f"{m:+.3f} [{m - half:+.3f}, {m + half:+.3f}]"
            worst_large = "" if large is None else f"{sets[large]} {per_set[large]:+.3f}"
            paired.append([kind, name, mean, f"{np.median(per_set):+.3f}",
                           f"{sets[worst]} {per_set[worst]:+.3f}", worst_large,
                           f"{sum(f['best_epoch'] == 0 for f in fits)}/{len(fits)}",
                           f"{sum(bool(f['warnings']) for f in fits)}/{len(fits)}"])  # fmt: skip
            worst_ok = large is None or per_set[large] >= -0.03
            bars.append([kind, name, harness.fmt(key in RECOMMENDED, "yes"), f"{m:+.3f}",
                         harness.fmt(m >= -0.005, "pass"), worst_large,
                         harness.fmt(worst_ok, "pass")])  # fmt: skip
    k, large = f"{len(sets)}-set", f"worst set with >= {MANY} test outliers"
    header = f"input | estimator - linear twin | {k} mean difference [95% interval] | median"
    header += f" over sets | worst set | {large} | kept the linear start | fits that warned"
    tables.append(harness.Table("paired", f"Paired AUC differences ({n} splits)", header, paired))
    header = f"input | estimator - linear twin | recommended | {k} mean difference | >= -0.005"
    header += f" | {large} | >= -0.03"
    title = "Bars: paired AUC against the linear twin (recommended: selection='contrast')"
    tables.append(harness.Table("bars", title, header, bars))
    note = f"{n} splits; {args.workers} worker processes, 1 torch and 1 BLAS thread each; "
    note += "test outliers: expected count (range over splits); d: median over splits"
    return [note, *tables]


OPTIONS = {"--splits": 10, "--workers": 2}
OPTIONS["--sets"] = {"nargs": "+", "choices": SETS, "default": SETS}
harness.declare(__name__, cases, report, OPTIONS, quick="2 splits")
