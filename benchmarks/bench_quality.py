"""Quality of sklearn_ae's default fits against PCA and factor analysis, on 14 data sets.

Default fits (one thread) on a 70/30 split, scored on the held-out rows, timed after a
warm-up fit. Per (set, d) and seed: the AE's reconstruction MSE over exact PCA's (bar: <= 1 +
1e-6, a kept PCA start's rounding); the VAE's ELBO (bar: >= ``PCA.score`` - 0.5) and, without
the columns constant in training, where PCA and FA have finite likelihoods, a second VAE's
(bar: >= max(PCA, FA) - 0.5); each fit's time, epochs, steps and ConvergenceWarning. Several
``--seeds``: means, [min, max], bars passing at every seed. Extra tables: classification on
the digits codes; dequantized digits; a grid search over d (VAE >= PCA, and a single peak: a
false dip would stop a search); model selection on the fa-example sets (argmax: the true
rank); FA and VAE interleaved on wide data. Only the public API is used, so any version first
on ``PYTHONPATH`` runs; ``--json`` writes every number, as ``--baseline`` reads it.
"""

import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import _datasets as ds
import _harness as harness
import numpy as np
from _harness import fmt
from sklearn.decomposition import PCA, FactorAnalysis
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, cross_val_score

from sklearn_ae import AutoencoderTransformer, VAETransformer

LATENT_SIZES, QUICK_LATENT_SIZES = (2, 5, 8), (2, 5)
EXTRA_LATENT_SIZES = {"digits/16": (16,), "fashion-mnist 3500/2000": (16,)}
ONLY_LATENT_SIZES = {"docstring words": (2, 8)}  # slow: these sizes only
CLASSIFICATION_SIZES, DEQUANTIZED_D, DEQUANTIZED_FLOOR = (2, 8, 16), 8, 54.0
SELECTION_SIZES, SELECTION_TRUE_RANK, GRID_SIZES = (1, 3, 5, 8, 12, 20), 5, (2, 4, 8, 16, 32)
PEAK_DROP = 2.0  # nats: a drop larger than this followed by a rise breaks "single peak"
WIDE_SHAPE, WIDE_RANK, WIDE_D, WIDE_PAIRS, WIDE_MAX_RATIO = (400, 4000), 10, 8, 3, 5.0
VAE_SLACK = 0.5  # nats per row, for both VAE bars
# A kept PCA start is PCA in float64 (ratio 1 +- ~1e-12); the margin is float32 weights' old one.
AE_RATIO_ROUNDING = 1e-6


DATASETS = {
    "digits/16": lambda: ds.split(ds.digits()),
    "breast_cancer raw": lambda: ds.split(ds.bundled("breast_cancer")),
    "breast_cancer std": lambda: ds.split(ds.bundled("breast_cancer"), standardized=True),
    "wine raw": lambda: ds.split(ds.bundled("wine")),
    "diabetes": lambda: ds.split(ds.bundled("diabetes")),
    "swiss roll 50-D": lambda: ds.split(ds.swiss_roll_50d()),
    "fa-example homo": lambda: ds.split(ds.fa_example()[0]),
    "fa-example hetero": lambda: ds.split(ds.fa_example()[1]),
    "digits + rare border": lambda: ds.split(ds.digits_rare_border()),
    "one-hot rare category": lambda: ds.split(ds.onehot_rare_category()),
    "image patches 6x6": lambda: ds.split(ds.image_patches()),
    "manifold 3-D in 50-D, noise 1e-3": lambda: ds.split(ds.manifold_small_noise()),
    "docstring words": lambda: ds.split(ds.docstring_words()),
    "fashion-mnist 3500/2000": ds.fashion_mnist,  # its own split; None when not installed
}
NOT_INSTALLED = "Debian's dataset-fashion-mnist is not installed"
SELECTION_DATASETS = {"fa-example homo": 0, "fa-example hetero": 1}  # all rows of fa_example()


def _pca(d):
    # The exact solution: the default solver is randomized on the wider sets, and its held-out
    # error moved by up to 6e-6 relative from run to run, more than the AE bar allows.
    return PCA(d, svd_solver="full")


def fit_ours(estimator_class, d, X_train, seed=0, prefix=""):
    """Fit one sklearn_ae estimator; return it and its fit statistics (keys after ``prefix``)."""
    est = estimator_class(n_components=d, random_state=seed, device="cpu")
    (seconds, _), warned = harness.recorded_fit(est, X_train)
    steps = getattr(est, "n_steps_", None)
    if steps is None:  # versions before n_steps_: the batches of every epoch
        batch = min(256 if est.batch_size == "auto" else est.batch_size, len(X_train))
        steps = est.n_iter_ * -(-len(X_train) // batch)
    stats = {"fit_s": seconds, "steps": int(steps), "epochs": int(est.n_iter_)}
    return est, {f"{prefix}{k}": v for k, v in {**stats, "convergence_warning": warned}.items()}


def row_mse(estimator, X):
    return np.mean((X - estimator.inverse_transform(estimator.transform(X))) ** 2, axis=1)


def worst_mean(values):
    """Mean of the lowest 1% of ``values`` (at least one)."""
    return float(np.mean(np.sort(values)[: max(1, len(values) // 100)]))


def measure_seed(seed, d, X_train, X_test, ref):
    """The sklearn_ae fits of one seed, scored against the linear reference ``ref``."""
    ae, result = fit_ours(AutoencoderTransformer, d, X_train, seed, "ae_")
    vae, stats = fit_ours(VAETransformer, d, X_train, seed, "vae_")
    ae_rows, pca_rows, keep = row_mse(ae, X_test), ref["pca_rows"], ref["keep"]
    vae_ll = vae_nc_ll = vae.score_samples(X_test)
    if keep is not None:
        vae_nc, nc_stats = fit_ours(VAETransformer, d, X_train[:, keep], seed, "vae_nc_")
        vae_nc_ll = vae_nc.score_samples(X_test[:, keep])
        result.update(nc_stats)
    result.update(stats, seed=seed, ae_mse=float(np.mean(ae_rows)), vae_nc_refit=keep is not None)
    result.update(ae_worst_mse=float(np.max(ae_rows)), vae_score=float(np.mean(vae_ll)))
    for name, f in (("ratio", np.mean), ("median_ratio", np.median), ("worst_ratio", np.max)):
        result[f"ae_{name}"] = float(f(ae_rows) / f(pca_rows))
    result.update(vae_median=float(np.median(vae_ll)), vae_worst1=worst_mean(vae_ll))
    result.update(vae_nc_score=float(np.mean(vae_nc_ll)), vae_nc_worst1=worst_mean(vae_nc_ll))
    result["ae_pass"] = bool(result["ae_ratio"] <= 1.0 + AE_RATIO_ROUNDING)
    result["vae_pass"] = bool(result["vae_score"] >= ref["vae_bar"])
    result["vae_nc_pass"] = bool(result["vae_nc_score"] >= ref["vae_nc_bar"])
    return result, {"ae": ae, "vae": vae}


def measure(name, d, X_train, X_test, seeds, fitted):
    """One row of the main table; ``fitted`` keeps the first seed's models."""
    pca, constant = _pca(d).fit(X_train), ds.training_constant(X_train)
    keep = ~constant if constant.any() else None
    pca_nc, Xn_train, Xn_test = pca, X_train, X_test
    if keep is not None:
        Xn_train, Xn_test = X_train[:, keep], X_test[:, keep]
        pca_nc = _pca(d).fit(Xn_train)
    fa_nc = FactorAnalysis(d, random_state=0)
    _, fa_warned = harness.recorded_fit(fa_nc, Xn_train)
    fa_ll, pca_rows = fa_nc.score_samples(Xn_test), row_mse(pca, X_test)
    row = {"data": name, "d": d, "n_train": len(X_train), "n_test": len(X_test)}
    row.update(n_features=X_train.shape[1], n_constant=int(constant.sum()), seeds=list(seeds))
    row.update(pca_mse=float(np.mean(pca_rows)), pca_worst_mse=float(np.max(pca_rows)))
    row.update(pca_score=float(pca.score(X_test)), pca_nc_score=float(pca_nc.score(Xn_test)))
    row.update(fa_nc_score=float(np.mean(fa_ll)), fa_nc_worst1=worst_mean(fa_ll))
    row.update(fa_convergence_warning=fa_warned, vae_bar=row["pca_score"] - VAE_SLACK)
    row["vae_nc_bar"] = max(row["pca_nc_score"], row["fa_nc_score"]) - VAE_SLACK
    per_seed, ref = [], {**row, "keep": keep, "pca_rows": pca_rows}
    for seed in seeds:
        result, models = measure_seed(seed, d, X_train, X_test, ref)
        per_seed.append(result)
        fitted.setdefault((name, d), {"pca": pca, **models})
    # Means over seeds, counts of warned fits, and bars that pass only if they pass at every seed.
    for key, value in per_seed[0].items():
        values = [s[key] for s in per_seed]
        if key.endswith("_pass"):
            row[key] = all(values)
        elif key.endswith("_convergence_warning"):
            row[f"{key}s"] = sum(values)
        elif type(value) in (int, float) and key != "seed":
            row[key] = statistics.fmean(values)
    for key in ("ae_ratio", "vae_score", "vae_nc_score"):
        values = [s[key] for s in per_seed]
        row[f"{key}_min"], row[f"{key}_max"] = min(values), max(values)
    return {**row, "per_seed": per_seed}


def classification(fitted):
    """Test accuracy of a logistic regression on the digits codes of the AE and of PCA."""
    (X_train, X_test), (y_train, y_test) = DATASETS["digits/16"](), ds.split(ds.digits(True))
    rows = []
    for d in [d for d in CLASSIFICATION_SIZES if ("digits/16", d) in fitted]:  # --quick: fewer
        rows.append({"d": d})
        for key in ("ae", "pca"):
            model, clf = fitted["digits/16", d][key], LogisticRegression(max_iter=5000)
            harness.recorded_fit(clf, model.transform(X_train), y_train)
            rows[-1][f"{key}_accuracy"] = float(clf.score(model.transform(X_test), y_test))
    return rows


def dequantized(d=DEQUANTIZED_D):
    X_train, X_test = ds.split(ds.dequantized_digits())
    pca, fa = _pca(d).fit(X_train), FactorAnalysis(d, random_state=0)
    harness.recorded_fit(fa, X_train)
    vae, stats = fit_ours(VAETransformer, d, X_train, prefix="vae_")
    row = {"data": "digits dequantized", "d": d, "pca_score": float(pca.score(X_test))}
    row.update(fa_score=float(fa.score(X_test)), vae_score=float(vae.score(X_test)), **stats)
    row["vae_pass"] = bool(row["vae_score"] >= max(row["fa_score"], DEQUANTIZED_FLOOR))
    return row


CV_ESTIMATORS = {
    "vae": lambda d: VAETransformer(n_components=d, random_state=0, device="cpu"),
    "fa": lambda d: FactorAnalysis(d, random_state=0),
    "pca": _pca,
}


def cv_curves(X, sizes, cv):
    """Per estimator, the mean CV score per d, with its seconds and the folds that warned."""
    result = {key: [] for key in CV_ESTIMATORS}
    for (key, make), d in [(item, d) for item in CV_ESTIMATORS.items() for d in sizes]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            scores, (seconds, _) = harness.timed(lambda: cross_val_score(make(d), X, cv=cv))
        cw = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
        point = {"d": d, "cv_score": float(np.mean(scores)), "seconds": seconds}
        result[key].append({**point, "cw": cw})
        harness.log(f"    {key} d={d}: {np.mean(scores):.3f} ({seconds:.1f} s)")
    return result


def model_selection(name):
    X = ds.fa_example()[SELECTION_DATASETS[name]]
    result = {"data": name, **cv_curves(X, SELECTION_SIZES, 5)}
    for key in CV_ESTIMATORS:
        result[f"{key}_argmax"] = max(result[key], key=lambda p: p["cv_score"])["d"]
    return {**result, "vae_pass": result["vae_argmax"] == SELECTION_TRUE_RANK}


def grid_search():
    curves = cv_curves(ds.digits(), GRID_SIZES, KFold(5, shuffle=True, random_state=0))
    result = {"data": "digits/16", "sizes": list(GRID_SIZES), **curves}
    vae, pca = ([p["cv_score"] for p in result[key]] for key in ("vae", "pca"))
    result["vae_ge_pca"] = [bool(v >= p) for v, p in zip(vae, pca)]
    result["vae_ge_pca_pass"] = all(result["vae_ge_pca"])
    # A false dip: some i < j < k with vae[j] < vae[i] - PEAK_DROP and vae[k] > vae[j].
    inner = range(1, len(vae) - 1)
    dip = any(max(vae[:j]) - PEAK_DROP > vae[j] < max(vae[j + 1 :]) for j in inner)
    return {**result, "single_peak_pass": not dip}


def wide_fit(make):
    """A variant of the interleaved FA / VAE pairs: one timed fit of the wide data."""
    rng, (n, p) = np.random.RandomState(0), WIDE_SHAPE
    X = rng.randn(n, WIDE_RANK) @ rng.randn(WIDE_RANK, p) + 0.5 * rng.randn(n, p)

    def fit():
        (seconds, _), warned = harness.recorded_fit(model := make(), X)
        return {"s": seconds, "warned": warned, "epochs": int(getattr(model, "n_iter_", 0))}

    return fit


def wide_cost(fa, vae):
    pairs = [
        {"fa_s": a["s"], "vae_s": b["s"], "ratio": b["s"] / a["s"], "vae_epochs": b["epochs"]}
        | {"vae_convergence_warning": b["warned"], "fa_convergence_warning": a["warned"]}
        for a, b in zip(fa["runs"], vae["runs"])
    ]
    ratio = harness.median(p["ratio"] for p in pairs)
    result = {"shape": list(WIDE_SHAPE), "d": WIDE_D, "pairs": pairs, "median_ratio": ratio}
    return {**result, "vae_pass": bool(ratio <= WIDE_MAX_RATIO)}


def cases(args):
    args.started, names, fitted = harness.clocks()[0], args.data or list(DATASETS), {}
    if args.quick:
        args.model_selection = args.grid_search = args.wide_cost = False

    def once(kind, fn, **params):
        return harness.Case({"kind": kind, **params}, {"result": fn})

    warm_up = np.random.RandomState(0).rand(64, 8)
    for estimator_class in (AutoencoderTransformer, VAETransformer):
        # One-off costs (first torch calls, allocator), before any fit is timed.
        harness.recorded_fit(estimator_class(max_iter=2, random_state=0, device="cpu"), warm_up)
    for name in names:
        data = DATASETS[name]()
        if data is None:
            yield harness.Case({"kind": "skipped", "data": name}, {"result": "not installed"})
        sizes = () if data is None else (QUICK_LATENT_SIZES if args.quick else LATENT_SIZES)
        if name in ONLY_LATENT_SIZES:
            sizes = [d for d in ONLY_LATENT_SIZES[name] if d in sizes]
        for d in [*sizes, *(() if args.quick else EXTRA_LATENT_SIZES.get(name, ()))]:
            yield once("row", lambda: measure(name, d, *data, args.seeds, fitted), data=name, d=d)
    if "digits/16" in names:
        yield once("classification", lambda: classification(fitted))
        yield once("dequantized", dequantized)
    for name in [n for n in names if n in SELECTION_DATASETS] if args.model_selection else ():
        yield once("model_selection", lambda: model_selection(name), data=name)
    if args.grid_search and "digits/16" in names:
        yield once("grid_search", grid_search)
    if args.wide_cost:
        fa = wide_fit(lambda: FactorAnalysis(WIDE_D, random_state=0))
        vae = wide_fit(lambda: VAETransformer(n_components=WIDE_D, random_state=0, device="cpu"))
        yield harness.Case({"kind": "wide_cost"}, {"fa": fa, "vae": vae}, rounds=WIDE_PAIRS)


def _spread(key, spec):
    """The mean over seeds, with [min, max] when more than one seed ran."""
    spread = lambda r: f" [{r[f'{key}_min']:{spec}}, {r[f'{key}_max']:{spec}}]"  # noqa: E731
    return lambda r: format(r[key], spec) + (spread(r) if len(r["seeds"]) > 1 else "")


def _cw(prefix):
    key = f"{prefix}_convergence_warnings"
    return lambda row: f"{row[key]}/{len(row['seeds'])}" if key in row else ""


def _now_before(key):
    return lambda r: fmt(r[key] / r[f"before_{key}"] if r.get(f"before_{key}") else None, ".2f")


def _score(key, marks=True):
    """A CV curve's score at one d, with " *" at the estimator's argmax when ``marks``."""
    mark = lambda r: " *" if marks and r[f"{key}_argmax"] == r["d"] else ""  # noqa: E731
    return f"{key.upper()} CV score", lambda r: f"{r[key]['cv_score']:.3f}{mark(r)}"


def _curve_range(res):
    scores = [p["cv_score"] for p in res["vae"]]
    return f"{max(scores) - min(scores):.3f}"


MAIN_COLUMNS = [
    "data | d",
    ("AE/PCA mean", _spread("ae_ratio", ".4f")),
    "AE/PCA median-row=ae_median_ratio:.3f | AE worst/PCA worst=ae_worst_ratio:.3f"
    " | PCA score all cols=pca_score:.2f",
    ("VAE mean all cols", _spread("vae_score", ".2f")),
    "VAE median=vae_median:.2f | VAE worst 1%=vae_worst1:.2f",
    ("PCA nc", lambda r: f"{r['pca_nc_score']:.2f}" if r["n_constant"] else "="),
    "FA nc=fa_nc_score:.2f | FA nc worst 1%=fa_nc_worst1:.2f",
    ("VAE nc mean", lambda r: f"{r['vae_nc_score']:.2f}" if r["n_constant"] else "="),
    "AE fit s=ae_fit_s:.2f | VAE fit s=vae_fit_s:.2f | AE bar=ae_pass:pass"
    " | VAE bar all cols=vae_pass:pass | VAE bar nc=vae_nc_pass:pass",
]
FIT_COLUMNS = [
    "data | d | n_train | n_test | features=n_features | constant in train=n_constant"
    " | AE epochs=ae_epochs:.0f | AE steps=ae_steps:.0f",
    ("AE ConvergenceWarning", _cw("ae")),
    "VAE epochs=vae_epochs:.0f | VAE steps=vae_steps:.0f",
    ("VAE ConvergenceWarning", _cw("vae")),
    "VAE nc fit s=vae_nc_fit_s:.2f | VAE nc epochs=vae_nc_epochs:.0f",
    ("VAE nc ConvergenceWarning", _cw("vae_nc")),
]
BASELINE_COLUMNS = [
    "data | d | AE/PCA=ae_ratio:.4f | AE/PCA (before)=before_ae_ratio:.4f"
    " | VAE mean=vae_score:.2f | VAE mean (before)=before_vae_score:.2f"
    " | AE fit s=ae_fit_s:.2f | AE fit s (before)=before_ae_fit_s:.2f",
    ("AE fit s now/before", _now_before("ae_fit_s")),
    "AE steps=ae_steps:.0f | AE steps (before)=before_ae_steps:.0f | VAE fit s=vae_fit_s:.2f"
    " | VAE fit s (before)=before_vae_fit_s:.2f",
    ("VAE fit s now/before", _now_before("vae_fit_s")),
    "VAE steps=vae_steps:.0f | VAE steps (before)=before_vae_steps:.0f",
]
CV_CELLS = "VAE s (5 fits)=vae_s:.1f | VAE folds with ConvergenceWarning=vae_cw"


def report(records, args):
    results = {}
    for r in records:
        results.setdefault(r["kind"], []).append(r["runs"][0] if r["runs"] else r)
    rows, skipped = results.pop("row", []), [r["data"] for r in results.pop("skipped", [])]
    extras = {k: v if k == "model_selection" else v[0] for k, v in results.items()}
    if "wide_cost" in extras:
        extras["wide_cost"] = wide_cost(*[r for r in records if r["kind"] == "wide_cost"])
    seeds, n = ", ".join(map(str, args.seeds)), len(args.seeds)
    spread = f"Means over seeds {seeds} ([min, max] in brackets); a bar passes only if it "
    items = [f"- seeds of the sklearn_ae fits: {seeds}"]
    items += [f"note: skipped {s}: {NOT_INSTALLED}" for s in skipped]
    title = "Default fits against PCA and FA: held-out rows"
    items += [
        harness.table("main", title, rows, MAIN_COLUMNS),
        "AE/PCA: reconstruction MSE ratios (mean over rows, median row, worst row). Scores "
        "are held-out log-likelihoods in nats per row (VAE: ELBO from score_samples); worst "
        "1% is the mean of the lowest max(1, n_test // 100) rows. nc: fitted on the columns "
        'not constant in the training rows ("=": no such column, same as all columns). '
        f"Bars: AE/PCA mean <= 1 + {AE_RATIO_ROUNDING:g}; VAE all cols >= PCA score - "
        f"{VAE_SLACK:g}; VAE nc >= max(PCA nc, FA nc) - {VAE_SLACK:g}. "
        + (spread + "passes for every seed." if n > 1 else f"Seed {args.seeds[0]}."),
    ]
    title = "Fit statistics (means over seeds; ConvergenceWarning: warned fits / seeds)"
    items.append(harness.table("fit_statistics", title, rows, FIT_COLUMNS))
    if args.baseline is not None:
        data = json.loads(args.baseline.read_text(encoding="utf-8"))
        data = {(r["data"], r["d"]): r for r in (data["rows"] if isinstance(data, dict) else data)}
        old = [data.get((r["data"], r["d"]), {}) for r in rows]
        compared = [row | {f"before_{k}": v for k, v in o.items()} for row, o in zip(rows, old)]
        title = f"Against the baseline {args.baseline}"
        items.append(harness.table("baseline", title, compared, BASELINE_COLUMNS))
    if extras.get("classification"):
        title = "digits/16: logistic regression on the codes, test accuracy"
        columns = "d | AE=ae_accuracy:.3f | PCA=pca_accuracy:.3f"
        items.append(harness.table("classification", title, extras["classification"], columns))
    if "dequantized" in extras:
        title = f"Dequantized digits, d={DEQUANTIZED_D}: held-out mean log-likelihood"
        columns = (
            "VAE ELBO=vae_score:.2f | FA score=fa_score:.2f | PCA score=pca_score:.2f"
            f" | VAE >= FA and >= {DEQUANTIZED_FLOOR}=vae_pass:pass | VAE fit s=vae_fit_s:.2f"
            " | VAE steps=vae_steps | VAE epochs=vae_epochs"
            " | ConvergenceWarning=vae_convergence_warning:yes"
        )
        items.append(harness.table("dequantized", title, [extras["dequantized"]], columns))

    def curves(res, sizes):
        vae = [{"vae_s": p["seconds"], "vae_cw": p["cw"]} for p in res["vae"]]
        return [
            {**res, **v, "d": d, **{k: res[k][i] for k in CV_ESTIMATORS}}
            for i, (d, v) in enumerate(zip(sizes, vae))
        ]

    if selections := extras.get("model_selection", []):
        title = "Model selection on the fa-example data: mean 5-fold CV score"
        points = [p for res in selections for p in curves(res, SELECTION_SIZES)]
        columns = ["data | d", *map(_score, CV_ESTIMATORS), CV_CELLS]
        note = "(* marks each estimator's argmax)"
        items.append(harness.table("model_selection", title, points, columns, note))
        columns = ["data", *(f"{k.upper()} argmax d={k}_argmax" for k in CV_ESTIMATORS)]
        columns += [("VAE curve max - min", _curve_range)]
        columns += [f"VAE argmax == {SELECTION_TRUE_RANK}=vae_pass:pass"]
        items.append(harness.table("model_selection_summary", None, selections, columns))
    if res := extras.get("grid_search"):
        points = [{**p, "ok": ok} for p, ok in zip(curves(res, res["sizes"]), res["vae_ge_pca"])]
        columns = ["d", *(_score(key, marks=False) for key in ("vae", "pca", "fa"))]
        columns += ["VAE >= PCA=ok:pass", CV_CELLS]
        title = "Grid search on digits/16: mean 5-fold CV score (shuffled KFold)"
        items.append(harness.table("grid_search", title, points, columns))
        peak = f"single peak (no drop > {PEAK_DROP:g} nats, then a rise)=single_peak_pass:pass"
        columns = f"VAE >= PCA at every d=vae_ge_pca_pass:pass | {peak}"
        items.append(harness.table("grid_search_bars", None, [res], columns))
    if res := extras.get("wide_cost"):
        title = f"Wide data cost: {WIDE_SHAPE[0]} x {WIDE_SHAPE[1]}, d={WIDE_D}, fit seconds, FA "
        columns = (
            "pair | FA fit s=fa_s:.2f | VAE fit s=vae_s:.2f | VAE/FA=ratio:.2f"
            " | VAE epochs=vae_epochs | VAE ConvergenceWarning=vae_convergence_warning:yes"
        )
        pairs = [{"pair": i + 1, **pair} for i, pair in enumerate(res["pairs"])]
        items.append(harness.table("wide_cost", title + "and VAE interleaved", pairs, columns))
        columns = f"median VAE/FA=median_ratio:.2f | bar <= {WIDE_MAX_RATIO:g}=vae_pass:pass"
        items.append(harness.table("wide_cost_bar", None, [res], columns))
    bars = [row[key] for row in rows for key in ("ae_pass", "vae_pass", "vae_nc_pass")]
    bars += [extras[k]["vae_pass"] for k in ("dequantized", "wide_cost") if k in extras]
    bars += [res["vae_pass"] for res in extras.get("model_selection", [])]
    grid = extras.get("grid_search", {})
    bars += [grid[k] for k in ("vae_ge_pca_pass", "single_peak_pass") if grid]
    fits = [s for row in rows for s in row["per_seed"]]
    warned = [s.get(f"{p}_convergence_warning", 0) for s in fits for p in ("ae", "vae", "vae_nc")]
    wall = harness.clocks()[0] - args.started
    items.append(
        f"{sum(bars)} of {len(bars)} bars pass\nsklearn_ae fits of the main table with a "
        f"ConvergenceWarning: {sum(warned)} of {sum(2 + s['vae_nc_refit'] for s in fits)}\n"
        f"total run time: {wall:.0f} s"
    )
    if args.json:
        write_json(args.json, args.seeds, rows, extras, skipped, wall)
    return items


def write_json(path, seeds, rows, extras, skipped, wall):
    """Every number, in the layout that ``--baseline`` reads (older versions wrote it too)."""
    m = harness.machine()
    rev = harness.revision(Path(m["sklearn_ae_path"]).parent)
    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "seeds": seeds}
    meta["command"] = " ".join(["benchmarks/bench_quality.py", *sys.argv[1:]])
    revision = f"{(rev['commit'] or '?')[:7]}" + " + uncommitted changes" * bool(rev["dirty"])
    meta |= {"sklearn_ae": m["sklearn_ae_path"], "revision": revision}
    meta |= {key: m[key] for key in ("cpu", "torch_threads", "blas_threads")}
    meta |= {"omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"), "skipped": skipped}
    meta |= {"versions": {key: m[key] for key in ("python", "torch", "sklearn", "numpy")}}
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"meta": {**meta, "wall_s": wall}, "rows": rows, **extras}
    path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")


def options(parser):
    seeds = lambda text: [int(part) for part in text.split(",") if part.strip()] or [0]  # noqa: E731
    parser.add_argument("--data", nargs="+", choices=list(DATASETS), help="data sets to run")
    parser.add_argument("--seeds", type=seeds, default=[0], help="seeds of the fits, e.g. 0,1,2")
    for flag in ("model-selection", "grid-search", "wide-cost"):
        parser.add_argument(f"--no-{flag}", dest=flag.replace("-", "_"), action="store_false")
    parser.add_argument("--json", type=Path, help="write all measured numbers to this file")
    parser.add_argument("--baseline", type=Path, help="a --json file to compare with")


QUICK = "d in {2, 5}; no model selection, grid search or wide-data cost"
harness.declare(__name__, cases, report, options, quick=QUICK)
