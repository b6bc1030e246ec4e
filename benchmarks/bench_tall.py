"""Time to quality on tall data: this checkout's default fits against a baseline checkout's.

What it measures
----------------
Default ``AutoencoderTransformer(n_components=d)`` and ``VAETransformer(n_components=d)``
(plus ``random_state=seed`` and ``device="cpu"``), d in {2, 8}, on tall data:

* ``fashion10k`` and ``fashion30k``: the first 10,000 / 30,000 training images
  of Fashion-MNIST and its first 2,000 test images, pixels / 255 (Debian's
  ``dataset-fashion-mnist``; skipped with a note when absent);
* ``patches200k``: 200,000 8x8x3 patches of scikit-learn's two sample images
  (100,000 per image, ``_datasets.patches``), / 255, split 70/30
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
of the weights the stopping rule judges, at the start and after every epoch
(the averaged weights, on the test rows), from the callback of
``sklearn_ae._training.on_epoch``; the time these measurements take is left
out of its fit seconds. The column "reaches baseline" is the fit time at which that
quality first was no worse than the baseline's final quality, over the
baseline's fit time: what the fit would cost if it stopped as soon as it had
the baseline's quality. It separates how fast training gets there from how
long the stopping rule lets it run.

``--params '{"batch_size": 128}'`` passes keyword arguments to this
checkout's estimators (the baseline's keep their defaults): a candidate
default measured against the baseline before it is made one.

``--jobs 2`` runs the baseline's fit and this checkout's fit of one
configuration at the same time, one per core: both see the same machine, so
their ratio stays fair, and the run takes half the wall time. ``--json PATH``
writes every fit's record and curve.
"""

import json
import warnings
from contextlib import nullcontext
from pathlib import Path

import _harness as harness
import numpy as np
from _datasets import fashion_mnist, patches, split

WORKLOADS = ("fashion10k", "fashion30k", "patches200k")


def load(workload):
    """Training rows, test rows and (Fashion-MNIST only) their labels; None when absent."""
    if workload.startswith("fashion"):
        n_train = {"fashion10k": 10_000, "fashion30k": 30_000}[workload]
        data = fashion_mnist(n_train, 2000)
        return None if data is None else (*data, *fashion_mnist(n_train, 2000, labels=True))
    return (*split(patches(100_000)), None, None)


def quality_of(model, estimator, X_test):
    """AE: mean per-row MSE of the test rows' reconstructions; VAE: mean ELBO per row."""
    if estimator == "ae":
        error = (model.inverse_transform(model.transform(X_test)) - X_test) ** 2
        return float(error.mean(axis=1).mean())
    return float(model.score(X_test))


def child(workload, estimator, d, seed, curve=False, params=None):
    """One fit in this process, and (``curve``) its judged weights' quality at every epoch."""
    from sklearn.linear_model import LogisticRegression

    import sklearn_ae

    harness.limit_threads(1)
    X_train, X_test, y_train, y_test = load(workload)
    cls = {"ae": sklearn_ae.AutoencoderTransformer, "vae": sklearn_ae.VAETransformer}[estimator]
    model = cls(d, random_state=seed, device="cpu", **(params or {}))
    state = {"spent": 0.0, "curve": [] if curve else None}

    def measure(fitting, result):
        # ``fitting`` is the copy being trained, holding the weights being judged.
        begin, modes = harness.clocks()[0], [(m, m.training) for m in fitting.module_.modules()]
        value = quality_of(fitting, estimator, X_test)
        # Inference leaves the network in eval mode, which would change the rest of the fit
        # (measured: 84 epochs became 78 on digits, AE d=2): training resumes as it was.
        for module, mode in modes:
            module.train(mode)
        state["curve"].append((begin - state["start"] - state["spent"], value))
        state["spent"] += harness.clocks()[0] - begin

    if curve:  # only this checkout has the hook: the baseline's fits record no curve
        from sklearn_ae._training import on_epoch
    with (
        warnings.catch_warnings(record=True) as caught,
        on_epoch(measure) if curve else nullcontext(),
    ):
        warnings.simplefilter("always")
        state["start"] = harness.clocks()[0]
        model.fit(X_train)
        seconds = harness.clocks()[0] - state["start"] - state["spent"]
    accuracy = None
    if y_train is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            classifier = LogisticRegression(max_iter=1000).fit(model.transform(X_train), y_train)
        accuracy = float(classifier.score(model.transform(X_test), y_test))
    return {
        "seconds": seconds,
        "epochs": int(model.n_iter_),
        "quality": quality_of(model, estimator, X_test),
        "accuracy": accuracy,
        "warnings": sum("Maximum iterations" in str(w.message) for w in caught),
        "package": str(Path(sklearn_ae.__file__).parent),
        "curve": state["curve"],
    }


def pair(fit, order, args):
    """Both fits of one configuration, one after the other or (``--jobs 2``) side by side."""
    # Only this checkout's fit records its quality curve and gets --params.
    extra = {"this": {"curve": True, "params": args.params}, "baseline": {}}
    checkouts = {"this": harness.ROOT, "baseline": args.baseline}

    def start(name):
        return harness.Child(__file__, {**fit, **extra[name]}, checkout=checkouts[name], threads=1)

    if args.jobs == 2:
        running = {name: start(name) for name in order}
        return {name: child.result() for name, child in running.items()}
    return {name: start(name).result() for name in order}


def cases(args):
    # The labels are a few KB: enough to learn whether the package is installed
    # without decompressing the images in this process (the children load them).
    have_fashion = fashion_mnist(1, 1, labels=True) is not None
    index = 0
    for workload in args.data:
        if workload.startswith("fashion") and not have_fashion:
            yield harness.Case({"data": workload}, {"fits": "skipped"})
            continue
        for estimator in args.estimators:
            for d in args.d:
                fit = {"workload": workload, "estimator": estimator, "d": d, "seed": args.seed}
                # The order of the two fits alternates from one configuration to the next.
                order = ["baseline", "this"][:: -1 if index % 2 else 1]
                index += 1
                yield harness.Case(fit, {"fits": lambda f=fit, o=order: pair(f, o, args)})


def report(records, args):
    rows, notes = [], []
    for r in records:
        if r["error"]:
            notes.append(f"{r['data']}: skipped, Debian's dataset-fashion-mnist is not installed")
            continue
        old, new = r["runs"][0]["baseline"], r["runs"][0]["this"]
        no_worse = np.less_equal if r["estimator"] == "ae" else np.greater_equal
        r["ratio"] = ratio = new["seconds"] / old["seconds"]
        better = no_worse(new["quality"], old["quality"])
        accurate = new["accuracy"] is None or new["accuracy"] >= old["accuracy"]
        r["reached"] = next((t for t, q in new["curve"] if no_worse(q, old["quality"])), None)
        reached = "never" if r["reached"] is None else f"{r['reached'] / old['seconds']:.2f}"
        row = [r["workload"], r["estimator"].upper(), str(r["d"])]
        row += [f"{x['seconds']:.1f} ({x['epochs']})" for x in (old, new)] + [
            f"{ratio:.2f}",
            reached,
        ]
        row += [f"{x['quality']:.5g}" for x in (old, new)]
        row += [harness.fmt(x["accuracy"], ".3f") for x in (old, new)]
        rows.append(row + ["PASS" if ratio <= 0.5 and better and accurate else "fail"])
    if args.json:
        keys = ("workload", "estimator", "d", "seed")
        fits = [
            {"fit": [r[k] for k in keys], "this_params": args.params, **r["runs"][0]}
            | {"ratio": r["ratio"], "reached": r["reached"]}
            for r in records
            if not r["error"]
        ]
        args.json.write_text(json.dumps(fits, indent=1), encoding="utf-8")
    header = "data | model | d | baseline s (epochs) | this s (epochs) | this / baseline | "
    header += "reaches baseline | baseline quality | this quality | baseline accuracy | "
    header += "this accuracy | bar"
    params = f"; this checkout's estimators get {json.dumps(args.params)}" if args.params else ""
    return [
        f"Tall data: this checkout against {args.baseline}{params}; 1 torch/BLAS thread per fit, "
        f"{args.jobs} fit(s) at a time",
        *notes,
        harness.Table("tall", None, header, rows),
        "quality: AE held-out MSE (lower is better), VAE held-out mean ELBO in nats (higher)",
    ]


def _params(text):
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError(f"--params must be a JSON object of keyword arguments, got {value!r}")
    return value


def options(parser):
    parser.add_argument("--baseline", type=Path, required=True, help="the baseline checkout")
    parser.add_argument("--data", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    parser.add_argument("--estimators", nargs="+", choices=["ae", "vae"], default=["ae", "vae"])
    parser.add_argument("--d", nargs="+", type=int, default=[2, 8])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, choices=[1, 2], default=1)
    parser.add_argument("--json", type=Path, help="write every measurement to this file")
    parser.add_argument("--params", type=_params, default={}, help="JSON: this checkout's only")


BENCHMARK = harness.Benchmark(__file__, __doc__, cases, report, options, child, threads=None)

if __name__ == "__main__":
    harness.main(BENCHMARK)
