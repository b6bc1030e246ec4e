"""Quality of sklearn_ae's default fits against PCA and factor analysis.

What it measures
----------------
Every estimator runs with its default parameters plus ``random_state=0`` (and
``device="cpu"`` for sklearn_ae), with torch and BLAS limited to one thread.
Each data set is split 70/30 with ``train_test_split(..., test_size=0.3,
random_state=0)``; models are fitted on the training split and scored on the
held-out split. Fit times are wall-clock seconds of ``fit`` alone, after one
untimed warm-up fit of each sklearn_ae estimator.

Data sets (``--data`` names):

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
  (500 x 25, rank 5, homoscedastic and heteroscedastic noise).

For each data set and latent size ``d`` in {2, 5, 8} (``digits/16`` also 16):

* ``PCA(d)``: held-out reconstruction MSE (mean over all entries of the
  squared error of ``inverse_transform(transform(X))``) and held-out ``score``;
* ``FactorAnalysis(d, random_state=0)``: held-out ``score``;
* ``AutoencoderTransformer(n_components=d)``: held-out reconstruction MSE, its
  ratio to PCA's, fit time, optimizer steps, epochs (``n_iter_``) and whether
  ``fit`` issued a ``ConvergenceWarning``. Bar: ratio <= 1 + 1e-6 (a model
  that kept its PCA start is PCA up to the float32 rounding of its weights,
  which moves the ratio by about 1e-7 either way);
* ``VAETransformer(n_components=d)``: held-out ``score`` (the ELBO), fit time,
  steps, epochs, ``ConvergenceWarning``. Bar: ELBO >= max(FA, PCA) - 0.01 |FA|,
  except on ``digits/16`` where it is ELBO >= PCA's score.

Optimizer steps are ``n_steps_`` when the estimator has it, otherwise
``n_iter_ * ceil(n_train / batch)`` (batch 256 for ``batch_size="auto"``,
capped at ``n_train``).

Extra tables:

* codes for classification (with ``digits/16``): accuracy on the test split of
  ``LogisticRegression(max_iter=5000)`` trained on the training split's codes,
  autoencoder against PCA, d in {2, 8, 16} (reusing the fits above);
* dequantized digits (with ``digits/16``): ``(digits + U(0, 1)) / 17``, d=8,
  held-out VAE ELBO against FA and PCA. Bar: VAE >= FA and VAE >= 54.0;
* model selection (with the ``fa-example`` sets, all 500 rows): mean 5-fold
  ``cross_val_score`` of ``VAETransformer``, ``FactorAnalysis`` and ``PCA`` for
  d in {1, 3, 5, 8, 12, 20} and the argmax of each. Bar: the VAE's argmax is 5.
  Slow; ``--no-model-selection`` skips it.

Running it
----------
::

    .venv/bin/python benchmarks/bench_quality.py

Options: ``--quick`` (d in {2, 5} only and no model selection; a smoke test),
``--data NAME [NAME ...]`` (restrict the data sets), ``--no-model-selection``,
``--json PATH`` (write every measured number: row dicts plus the extra tables)
and ``--baseline PATH`` (a JSON written by ``--json``: adds the baseline's fit
times and optimizer steps next to the current ones, and the ratio of fit times).
To measure another checkout of the package, put it first on ``PYTHONPATH``;
the header prints the path and git revision of the ``sklearn_ae`` imported.
``benchmarks/baseline_quality.json`` holds the numbers of the code before the
training-core rewrite.

Only the public API is used, so the script runs against any version of the
estimators; warnings raised during fits are recorded, never turned into errors.
"""

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import sklearn
import torch
from scipy import linalg
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_wine,
    make_swiss_roll,
)
from sklearn.decomposition import PCA, FactorAnalysis
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info, threadpool_limits

import sklearn_ae
from sklearn_ae import AutoencoderTransformer, VAETransformer

LATENT_SIZES = (2, 5, 8)
QUICK_LATENT_SIZES = (2, 5)
EXTRA_LATENT_SIZES = {"digits/16": (16,)}
CLASSIFICATION_SIZES = (2, 8, 16)
DEQUANTIZED_D = 8
DEQUANTIZED_FLOOR = 54.0
SELECTION_SIZES = (1, 3, 5, 8, 12, 20)
SELECTION_TRUE_RANK = 5
VAE_TOLERANCE = 0.01  # of |FA score|, for the VAE bar
# A kept PCA start is PCA up to float32 rounding of the weights (ratio 1 +- ~1e-7).
AE_RATIO_ROUNDING = 1e-6


# ----------------------------------------------------------------------------
# Data. Every loader returns (X_train, X_test).


def _split(X):
    X_train, X_test = train_test_split(X, test_size=0.3, random_state=0)
    return X_train, X_test


def _standardized(X):
    X_train, X_test = _split(X)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test)


def swiss_roll_50d():
    X3, _ = make_swiss_roll(n_samples=1500, noise=0.05, random_state=0)
    rng = np.random.RandomState(0)
    Q, _ = np.linalg.qr(rng.randn(50, 3))  # 50 x 3, orthonormal columns
    return X3 @ Q.T + 0.1 * rng.randn(len(X3), 50)


def fa_example():
    """(X_homo, X_hetero) of scikit-learn's PPCA/FA model-selection example, in its order."""
    n_samples, n_features, rank, sigma = 500, 25, 5, 1.0
    rng = np.random.RandomState(42)
    U, _, _ = linalg.svd(rng.randn(n_features, n_features))
    X = np.dot(rng.randn(n_samples, rank), U[:, :rank].T)
    X_homo = X + sigma * rng.randn(n_samples, n_features)
    sigmas = sigma * rng.rand(n_features) + sigma / 2.0
    X_hetero = X + rng.randn(n_samples, n_features) * sigmas
    return X_homo, X_hetero


def dequantized_digits():
    X = load_digits().data
    return (X + np.random.RandomState(0).uniform(size=X.shape)) / 17.0


DATASETS = {
    "digits/16": lambda: _split(load_digits().data / 16.0),
    "breast_cancer raw": lambda: _split(load_breast_cancer().data),
    "breast_cancer std": lambda: _standardized(load_breast_cancer().data),
    "wine raw": lambda: _split(load_wine().data),
    "diabetes": lambda: _split(load_diabetes().data),
    "swiss roll 50-D": lambda: _split(swiss_roll_50d()),
    "fa-example homo": lambda: _split(fa_example()[0]),
    "fa-example hetero": lambda: _split(fa_example()[1]),
}
SELECTION_DATASETS = {
    "fa-example homo": lambda: fa_example()[0],
    "fa-example hetero": lambda: fa_example()[1],
}


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


def reconstruction_mse(estimator, X):
    return float(np.mean((X - estimator.inverse_transform(estimator.transform(X))) ** 2))


def fit_ours(estimator_class, d, X_train):
    """Fit one sklearn_ae estimator; return it and its fit statistics."""
    est = estimator_class(n_components=d, random_state=0, device="cpu")
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


def vae_bar(name, pca_score, fa_score):
    if name == "digits/16":
        return pca_score
    return max(fa_score, pca_score) - VAE_TOLERANCE * abs(fa_score)


def measure(name, d, X_train, X_test, fitted):
    """One row of the main tables; ``fitted`` caches the models for the extra tables."""
    pca = PCA(d).fit(X_train)
    fa = FactorAnalysis(d, random_state=0)
    _, fa_warned = recorded_fit(fa, X_train)
    ae, ae_stats = fit_ours(AutoencoderTransformer, d, X_train)
    vae, vae_stats = fit_ours(VAETransformer, d, X_train)
    fitted[name, d] = {"pca": pca, "ae": ae, "vae": vae}

    pca_mse, ae_mse = reconstruction_mse(pca, X_test), reconstruction_mse(ae, X_test)
    pca_score, fa_score = float(pca.score(X_test)), float(fa.score(X_test))
    vae_score = float(vae.score(X_test))
    bar = vae_bar(name, pca_score, fa_score)
    return {
        "data": name,
        "d": d,
        "n_train": len(X_train),
        "n_test": len(X_test),
        "n_features": X_train.shape[1],
        "pca_mse": pca_mse,
        "pca_score": pca_score,
        "fa_score": fa_score,
        "fa_convergence_warning": fa_warned,
        "ae_mse": ae_mse,
        "ae_ratio": ae_mse / pca_mse,
        "ae_pass": bool(ae_mse / pca_mse <= 1.0 + AE_RATIO_ROUNDING),
        **{f"ae_{key}": value for key, value in ae_stats.items()},
        "vae_score": vae_score,
        "vae_bar": bar,
        "vae_pass": bool(vae_score >= bar),
        **{f"vae_{key}": value for key, value in vae_stats.items()},
    }


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
    pca = PCA(d).fit(X_train)
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


def cv_curve(make_estimator, X, sizes, log):
    """Mean 5-fold CV score per d, plus total seconds and folds with a ConvergenceWarning."""
    curve = []
    for d in sizes:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            start = time.perf_counter()
            scores = cross_val_score(make_estimator(d), X, cv=5)
            seconds = time.perf_counter() - start
        warned = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
        curve.append(
            {"d": d, "cv_score": float(np.mean(scores)), "seconds": seconds, "cw": warned}
        )
        log(f"    d={d}: {curve[-1]['cv_score']:.3f} ({seconds:.1f} s)")
    return curve


def model_selection(name, X, log):
    estimators = {
        "vae": lambda d: VAETransformer(n_components=d, random_state=0, device="cpu"),
        "fa": lambda d: FactorAnalysis(d, random_state=0),
        "pca": lambda d: PCA(d),
    }
    result = {"data": name}
    for key, make in estimators.items():
        log(f"  model selection, {name}, {key}")
        curve = cv_curve(make, X, SELECTION_SIZES, log)
        result[key] = curve
        result[f"{key}_argmax"] = max(curve, key=lambda p: p["cv_score"])["d"]
    result["vae_pass"] = result["vae_argmax"] == SELECTION_TRUE_RANK
    return result


# ----------------------------------------------------------------------------
# Output.


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(ok):
    return "PASS" if ok else "FAIL"


def _timing_cells(row, prefix, before):
    """Fit time and steps, with the baseline's next to them when one was given."""
    fit_s, steps = row[f"{prefix}_fit_s"], row[f"{prefix}_steps"]
    if before is None:
        return [f"{fit_s:.2f}", steps]
    if not before:  # no such row in the baseline
        return [f"{fit_s:.2f}", "", "", steps, ""]
    old_s, old_steps = before[f"{prefix}_fit_s"], before[f"{prefix}_steps"]
    return [f"{fit_s:.2f}", f"{old_s:.2f}", f"{fit_s / old_s:.2f}", steps, old_steps]


def _timing_header(with_baseline):
    if with_baseline:
        return ["fit s", "fit s (before)", "fit s now/before", "steps", "steps (before)"]
    return ["fit s", "steps"]


def ae_table(rows, baseline):
    header = ["data", "d", "PCA MSE", "AE MSE", "AE/PCA", "bar <= 1 + 1e-6"]
    header += _timing_header(baseline is not None) + ["epochs", "ConvergenceWarning"]
    table = []
    for row in rows:
        before = None if baseline is None else baseline.get((row["data"], row["d"]), {})
        table.append(
            [
                row["data"],
                row["d"],
                f"{row['pca_mse']:.4g}",
                f"{row['ae_mse']:.4g}",
                f"{row['ae_ratio']:.3f}",
                verdict(row["ae_pass"]),
                *_timing_cells(row, "ae", before),
                row["ae_epochs"],
                "yes" if row["ae_convergence_warning"] else "no",
            ]
        )
    return markdown_table(header, table)


def vae_table(rows, baseline):
    header = ["data", "d", "PCA score", "FA score", "VAE ELBO", "bar", "VAE >= bar"]
    header += _timing_header(baseline is not None) + ["epochs", "ConvergenceWarning"]
    table = []
    for row in rows:
        before = None if baseline is None else baseline.get((row["data"], row["d"]), {})
        table.append(
            [
                row["data"],
                row["d"],
                f"{row['pca_score']:.2f}",
                f"{row['fa_score']:.2f}",
                f"{row['vae_score']:.2f}",
                f"{row['vae_bar']:.2f}",
                verdict(row["vae_pass"]),
                *_timing_cells(row, "vae", before),
                row["vae_epochs"],
                "yes" if row["vae_convergence_warning"] else "no",
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


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="d in {2, 5}, no model selection")
    parser.add_argument("--data", nargs="+", choices=list(DATASETS), help="data sets to run")
    parser.add_argument(
        "--no-model-selection",
        dest="model_selection",
        action="store_false",
        help="skip the (slow) cross-validated model selection",
    )
    parser.add_argument("--json", type=Path, help="write all measured numbers to this file")
    parser.add_argument("--baseline", type=Path, help="a --json file to compare timings with")
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
        f"threads: torch {meta['torch_threads']}, BLAS/OpenMP ({blas}), "
        f"OMP_NUM_THREADS={meta['omp_num_threads_env']}; {os.cpu_count()} logical cores"
    )
    print(f"sklearn_ae: {meta['sklearn_ae']} at {meta['revision']}")
    print(
        "torch {torch}, scikit-learn {sklearn}, numpy {numpy}, Python {python}".format(
            **meta["versions"]
        )
    )
    print(f"date: {meta['date']}; command: {meta['command']}\n")

    baseline = load_baseline(args.baseline) if args.baseline else None
    names = args.data or list(DATASETS)
    sizes = QUICK_LATENT_SIZES if args.quick else LATENT_SIZES

    warm_up()
    rows, fitted = [], {}
    for name in names:
        X_train, X_test = DATASETS[name]()
        for d in (*sizes, *EXTRA_LATENT_SIZES.get(name, ())):
            start = time.perf_counter()
            rows.append(measure(name, d, X_train, X_test, fitted))
            log(f"{name}, d={d}: {time.perf_counter() - start:.1f} s")

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
    meta["wall_s"] = time.perf_counter() - wall_start

    print("## Autoencoder vs PCA: held-out reconstruction MSE\n")
    print(ae_table(rows, baseline) + "\n")
    print("## VAE vs FA and PCA: held-out mean log-likelihood (VAE: ELBO)\n")
    print(f"Bar: ELBO >= max(FA, PCA) - {VAE_TOLERANCE} |FA|; on digits/16, ELBO >= PCA.\n")
    print(vae_table(rows, baseline) + "\n")
    if "classification" in extras:
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

    bars = [row["ae_pass"] for row in rows] + [row["vae_pass"] for row in rows]
    bars += [extras["dequantized"]["vae_pass"]] if "dequantized" in extras else []
    bars += [res["vae_pass"] for res in extras.get("model_selection", [])]
    print(f"bars passed: {sum(bars)} of {len(bars)}")
    print(f"total run time: {meta['wall_s']:.0f} s")

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"meta": meta, "rows": rows, **extras}
        args.json.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
        log(f"written to {args.json}")


if __name__ == "__main__":
    main()
