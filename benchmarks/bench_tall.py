"""Time to quality on tall data: this checkout's default fits against a baseline checkout's.

What it measures
----------------
Default ``AutoencoderTransformer(n_components=d)`` and ``VAETransformer(n_components=d)``
(plus ``random_state=seed`` and ``device="cpu"``), d in {2, 8}, on tall data:

* ``fashion10k`` and ``fashion30k``: the first 10,000 / 30,000 training images
  of Fashion-MNIST and its first 2,000 test images, pixels / 255 (Debian's
  ``dataset-fashion-mnist``; skipped with a note when absent);
* ``patches200k``: 200,000 8x8x3 patches of scikit-learn's two sample images
  (100,000 per image, ``bench_fit.patches_data``), / 255, split 70/30
  (``random_state=0``).

Each fit runs in a fresh process with one torch/BLAS thread, once with the
baseline checkout first on ``PYTHONPATH`` and once with this one; the order of
the two alternates from one configuration to the next. Reported per
configuration: fit seconds of both and their ratio (this / baseline), the
epochs run, the held-out quality (AE: mean over the test rows of the per-row
MSE of ``inverse_transform(transform(X))``; VAE: ``score``, the mean ELBO per
row in nats) and, on Fashion-MNIST, the test accuracy of
``LogisticRegression(max_iter=1000)`` fitted on the training rows' codes.
Bar (issue "Speed where users feel it"): ratio <= 0.5 with quality and
accuracy no worse than the baseline's.

Quality against time: this checkout's fit also measures the held-out quality
of the weights the stopping rule judges after every epoch (the averaged
weights, on the test rows; the time these measurements take is left out of
its fit seconds). The column "reaches baseline" is the fit time at which that
quality first was no worse than the baseline's final quality, over the
baseline's fit time: what the fit would cost if it stopped as soon as it had
the baseline's quality. It separates how fast training gets there from how
long the stopping rule lets it run.

``--params '{"batch_size": 128}'`` passes keyword arguments to this
checkout's estimators (the baseline's keep their defaults): a candidate
default measured against the baseline before it is made one.

``--jobs 2`` runs the baseline's fit and this checkout's fit of one
configuration at the same time, one per core: both see the same machine, so
their ratio stays fair, and the run takes half the wall time. Run::

    git worktree add /tmp/baseline 8fc6704
    .venv/bin/python benchmarks/bench_tall.py --baseline /tmp/baseline --jobs 2
"""

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKLOADS = ("fashion10k", "fashion30k", "patches200k")


def load(workload):
    """Training rows, test rows and (Fashion-MNIST only) their labels; None when absent."""
    sys.path.insert(0, str(HERE))
    from _datasets import fashion_mnist, fashion_mnist_labels

    if workload.startswith("fashion"):
        n_train = {"fashion10k": 10_000, "fashion30k": 30_000}[workload]
        data = fashion_mnist(n_train, 2000)
        if data is None:
            return None
        return (*data, *fashion_mnist_labels(n_train, 2000))
    from bench_fit import patches_data
    from sklearn.model_selection import train_test_split

    X_train, X_test = train_test_split(patches_data(100_000), test_size=0.3, random_state=0)
    return X_train, X_test, None, None


def quality_of(model, estimator, X_test):
    """AE: mean per-row MSE of the test rows' reconstructions; VAE: mean ELBO per row."""
    if estimator == "ae":
        error = (model.inverse_transform(model.transform(X_test)) - X_test) ** 2
        return float(error.mean(axis=1).mean())
    return float(model.score(X_test))


def record_curve(estimator, X_test):
    """Record the test quality of every judged epoch into the returned dict.

    Wraps ``_FitSteps._held_out_losses`` of the checkout this process imports
    (this checkout's: the hook needs its internals), which the monitor calls
    once for the starting weights and once after every epoch. The caller sets
    ``"start"`` to the fit's start; ``"curve"`` gets (fit seconds so far,
    quality) pairs and ``"spent"`` the seconds the measurements took.
    """
    from sklearn_ae import _fitting

    state = {"start": None, "spent": 0.0, "curve": []}
    original = _fitting._FitSteps._held_out_losses

    def measured(self, source):
        losses = original(self, source)
        begin = time.perf_counter()
        # The fit runs on a clone of the estimator: measure the one training.
        value = quality_of(self, estimator, X_test)
        # Inference caches a copy of the network: drop it, so that the next
        # epoch (and the fitted model) is not measured with these weights.
        self._inference_cache = {}
        state["curve"].append((begin - state["start"] - state["spent"], value))
        state["spent"] += time.perf_counter() - begin
        return losses

    _fitting._FitSteps._held_out_losses = measured
    return state


def child(workload, estimator, d, seed, with_curve=False, params=None):
    """One fit in this process; prints its measurements as one JSON line."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)
    from sklearn.linear_model import LogisticRegression

    import sklearn_ae

    X_train, X_test, y_train, y_test = load(workload)
    cls = {"ae": sklearn_ae.AutoencoderTransformer, "vae": sklearn_ae.VAETransformer}[estimator]
    model = cls(d, random_state=seed, device="cpu", **(params or {}))
    state = record_curve(estimator, X_test) if with_curve else {"spent": 0.0, "curve": None}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        state["start"] = start = time.perf_counter()
        model.fit(X_train)
        seconds = time.perf_counter() - start - state["spent"]
    quality = quality_of(model, estimator, X_test)
    accuracy = None
    if y_train is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            classifier = LogisticRegression(max_iter=1000).fit(model.transform(X_train), y_train)
        accuracy = float(classifier.score(model.transform(X_test), y_test))
    print(
        json.dumps(
            {
                "seconds": seconds,
                "epochs": int(model.n_iter_),
                "quality": quality,
                "accuracy": accuracy,
                "warnings": sum("Maximum iterations" in str(w.message) for w in caught),
                "package": str(Path(sklearn_ae.__file__).parent),
                "curve": state["curve"],
            }
        )
    )


def spawn(checkout, args):
    env = dict(os.environ, PYTHONPATH=str(checkout), OMP_NUM_THREADS="1")
    return subprocess.Popen(
        [sys.executable, __file__, "--child", *map(str, args)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


def result(process):
    out, _ = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"a child fit failed (exit {process.returncode})")
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="the baseline checkout (required)")
    parser.add_argument("--data", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    parser.add_argument("--estimators", nargs="+", choices=["ae", "vae"], default=["ae", "vae"])
    parser.add_argument("--d", nargs="+", type=int, default=[2, 8])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, choices=[1, 2], default=1)
    parser.add_argument("--json", type=Path, help="write every measurement to this file")
    parser.add_argument(
        "--params",
        type=json.loads,
        default={},
        help="JSON object of keyword arguments for this checkout's estimators only",
    )
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        workload, estimator, d, seed, with_curve, params = args.child
        return child(
            workload, estimator, int(d), int(seed), with_curve == "curve", json.loads(params)
        )
    if args.baseline is None:
        parser.error("--baseline is required")
    if not isinstance(args.params, dict):
        parser.error(f"--params must be a JSON object of keyword arguments, got {args.params!r}")

    from _report import cpu_model, git_revision, markdown_table

    print(f"# Tall data: this checkout ({git_revision()}) against {args.baseline}")
    if args.params:
        print(f"this checkout's estimators get {json.dumps(args.params)}")
    print(f"1 torch/BLAS thread per fit, {args.jobs} fit(s) at a time; CPU: {cpu_model()}")
    from _datasets import fashion_mnist_labels

    # The labels are a few KB: enough to learn whether the package is installed
    # without decompressing the images in this process (the children load them).
    have_fashion = fashion_mnist_labels(1, 1) is not None
    rows, records, index = [], [], 0
    # Only this checkout's fit records its quality curve and gets --params.
    extra = {"this": ("curve", json.dumps(args.params)), "baseline": ("-", "{}")}
    for workload in args.data:
        if workload.startswith("fashion") and not have_fashion:
            print(f"{workload}: skipped, Debian's dataset-fashion-mnist is not installed")
            continue
        for estimator in args.estimators:
            for d in args.d:
                fit = (workload, estimator, d, args.seed)
                order = [("baseline", args.baseline), ("this", ROOT)]
                if index % 2:
                    order.reverse()
                index += 1
                runs = [(name, checkout, (*fit, *extra[name])) for name, checkout in order]
                if args.jobs == 2:
                    running = [(name, spawn(ck, child_args)) for name, ck, child_args in runs]
                    measured = {name: result(process) for name, process in running}
                else:
                    measured = {
                        name: result(spawn(ck, child_args)) for name, ck, child_args in runs
                    }
                old, new = measured["baseline"], measured["this"]
                ratio = new["seconds"] / old["seconds"]
                no_worse = np.less_equal if estimator == "ae" else np.greater_equal
                better = no_worse(new["quality"], old["quality"])
                accurate = new["accuracy"] is None or new["accuracy"] >= old["accuracy"]
                reached = next(
                    (t for t, value in new["curve"] if no_worse(value, old["quality"])), None
                )
                records.append(
                    {
                        "fit": fit,
                        "this_params": args.params,
                        **measured,
                        "ratio": ratio,
                        "reached": reached,
                    }
                )
                rows.append(
                    [
                        workload,
                        estimator.upper(),
                        d,
                        f"{old['seconds']:.1f} ({old['epochs']})",
                        f"{new['seconds']:.1f} ({new['epochs']})",
                        f"{ratio:.2f}",
                        "never" if reached is None else f"{reached / old['seconds']:.2f}",
                        f"{old['quality']:.5g}",
                        f"{new['quality']:.5g}",
                        "" if old["accuracy"] is None else f"{old['accuracy']:.3f}",
                        "" if new["accuracy"] is None else f"{new['accuracy']:.3f}",
                        "PASS" if ratio <= 0.5 and better and accurate else "fail",
                    ]
                )
                print(" | ".join(map(str, rows[-1])), flush=True)
    header = [
        "data",
        "model",
        "d",
        "baseline s (epochs)",
        "this s (epochs)",
        "this / baseline",
        "reaches baseline",
        "baseline quality",
        "this quality",
        "baseline accuracy",
        "this accuracy",
        "bar",
    ]
    print()
    print(markdown_table(header, rows))
    print("quality: AE held-out MSE (lower is better), VAE held-out mean ELBO in nats (higher)")
    if args.json:
        args.json.write_text(json.dumps(records, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
