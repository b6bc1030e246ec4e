"""Time to quality on tall data: this checkout's default fits against a baseline checkout's.

Default AE and VAE fits, d in {2, 8}, on 10,000 or 30,000 Fashion-MNIST images (skipped
without Debian's ``dataset-fashion-mnist``) and 200,000 sample-image patches, each in a fresh
one-thread process with either checkout first on ``PYTHONPATH``, the order alternating
(``--jobs 2``: both at once, on the same machine). Reported: fit seconds and their ratio,
epochs, held-out quality, on Fashion-MNIST a logistic regression's accuracy on the codes (bar:
ratio <= 0.5, nothing worse), and "reaches baseline": when the weights this fit's stopping
rule judges (through ``sklearn_ae._training.on_epoch``, measuring time left out) first
matched the baseline's final quality, over the baseline's time, which separates how fast
training gets there from how long the stopping rule lets it run. ``--params``: this
checkout's estimators only.
"""

import json
import warnings
from contextlib import nullcontext
from pathlib import Path

import _harness as harness
import numpy as np
from _datasets import fashion_mnist, patches, split

WORKLOADS = {"fashion10k": 10_000, "fashion30k": 30_000, "patches200k": None}


def load(workload):
    """Training rows, test rows and (Fashion-MNIST only) their labels; None when absent."""
    if n_train := WORKLOADS[workload]:
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
        # ``fitting``, the copy being trained, holds the judged weights. Inference leaves its
        # network in eval mode, which would change the rest of the fit: training resumes as it was.
        begin, modes = harness.clocks()[0], [(m, m.training) for m in fitting.module_.modules()]
        value = quality_of(fitting, estimator, X_test)
        for module, mode in modes:
            module.train(mode)
        state["curve"].append((begin - state["start"] - state["spent"], value))
        state["spent"] += harness.clocks()[0] - begin

    if curve:  # only this checkout has the hook: the baseline's fits record no curve
        from sklearn_ae._training import on_epoch
    observing = on_epoch(measure) if curve else nullcontext()
    with warnings.catch_warnings(record=True) as seen, observing:
        warnings.simplefilter("always")
        state["start"] = harness.clocks()[0]
        model.fit(X_train)
        seconds = harness.clocks()[0] - state["start"] - state["spent"]
    classifier, accuracy = LogisticRegression(max_iter=1000), None
    if y_train is not None:
        harness.recorded_fit(classifier, model.transform(X_train), y_train)
        accuracy = float(classifier.score(model.transform(X_test), y_test))
    result = {"seconds": seconds, "epochs": int(model.n_iter_)}
    result |= {"quality": quality_of(model, estimator, X_test), "accuracy": accuracy}
    warned = sum("Maximum iterations" in str(w.message) for w in seen)
    package = str(Path(sklearn_ae.__file__).parent)
    return result | {"warnings": warned, "package": package, "curve": state["curve"]}


def pair(fit, order, args):
    """Both fits of one configuration, one after the other or (``--jobs 2``) side by side."""
    # Only this checkout's fit records its quality curve and gets --params.
    this = {"curve": True, "params": args.params}
    start = {
        "this": lambda: harness.Child(__file__, fit | this, checkout=harness.ROOT, threads=1),
        "baseline": lambda: harness.Child(__file__, fit, checkout=args.baseline, threads=1),
    }
    started = {name: start[name]() for name in order} if args.jobs == 2 else {}
    return {name: (started.get(name) or start[name]()).result() for name in order}


def cases(args):
    # The labels (a few KB) tell whether the data is installed; the children load the images.
    have_fashion, index = fashion_mnist(1, 1, labels=True) is not None, 0
    for workload in args.data:
        if WORKLOADS[workload] and not have_fashion:
            yield harness.Case({"data": workload}, {"fits": "skipped"})
            continue
        for estimator, d in [(e, d) for e in args.estimators for d in args.d]:
            fit = {"workload": workload, "estimator": estimator, "d": d, "seed": args.seed}
            order = ["baseline", "this"][:: -1 if index % 2 else 1]  # alternates
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
        row += [f"{x['seconds']:.1f} ({x['epochs']})" for x in (old, new)]
        row += [f"{ratio:.2f}", reached, *(f"{x['quality']:.5g}" for x in (old, new))]
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
    params = f"; this checkout's estimators get {json.dumps(args.params)}" if args.params else ""
    return [
        f"Tall data: this checkout against {args.baseline}{params}; 1 torch/BLAS thread per fit, "
        f"{args.jobs} fit(s) at a time",
        *notes,
        harness.Table("tall", None, header + "this accuracy | bar", rows),
        "quality: AE held-out MSE (lower is better), VAE held-out mean ELBO in nats (higher)",
    ]


def _params(text):
    if not isinstance(value := json.loads(text), dict):
        raise ValueError(f"--params must be a JSON object of keyword arguments, got {value!r}")
    return value


def options(parser):
    parser.add_argument("--baseline", type=Path, required=True, help="the baseline checkout")
    parser.add_argument("--data", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    parser.add_argument("--estimators", nargs="+", choices=["ae", "vae"], default=["ae", "vae"])
    parser.add_argument("--d", nargs="+", type=int, default=[2, 8])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, choices=[1, 2], default=1)
    parser.add_argument("--json", type=Path, help="write every measurement to this file")
    parser.add_argument("--params", type=_params, default={}, help="JSON: this checkout's only")


harness.declare(__name__, cases, report, options, child, threads=None)
