"""One default fit on digits / 16, in a fresh process: this checkout alone or against another.

Each fit (one thread, the training split) in its own child, whose imports, allocator and
thread pool are its own, as in a user's script; with ``--baseline`` the children alternate
with the baseline's package, and the ratio is the median over pairs.
"""

from functools import partial
from pathlib import Path

import _harness as harness


def child(estimator, d):
    from _datasets import digits, split

    from sklearn_ae import AutoencoderTransformer, VAETransformer

    harness.limit_threads(1)
    est = {"ae": AutoencoderTransformer, "vae": VAETransformer}[estimator](d, random_state=0)
    (seconds, _), _ = harness.recorded_fit(est.set_params(device="cpu"), split(digits())[0])
    return {"seconds": seconds}


def cases(args):
    run, checkouts = {"estimator": args.estimator, "d": args.d}, {"this": harness.ROOT}
    checkouts |= {"baseline": args.baseline} if args.baseline else {}
    fits = {k: partial(harness.run_child, __file__, run, checkout=c) for k, c in checkouts.items()}
    yield harness.Case(run, fits, rounds=args.pairs)


def report(records, args):
    seconds = {r["variant"]: [run["seconds"] for run in r["runs"]] for r in records}
    fit, ratio = f"{args.estimator} {args.d}", ""
    if args.baseline:
        ratio = f"{harness.median(harness.paired(seconds['this'], seconds['baseline'])):.2f}"
    rows = [[fit, name, f"{harness.median(s):.3f}", ratio] for name, s in seconds.items()]
    return [harness.Table("fit", None, "fit | checkout | fit s (median) | this / baseline", rows)]


OPTIONS = {"estimator": {"choices": ["ae", "vae"]}, "d": {"type": int}, "--pairs": 1}
OPTIONS["--baseline"] = {"type": Path, "help": "a checkout to compare with"}
harness.declare(__name__, cases, report, OPTIONS, child, threads=None)
