"""Inference time of this checkout against a baseline checkout: one row and 10,000 rows.

Default ``AutoencoderTransformer(8)`` and ``VAETransformer(8)`` fitted on digits by each
checkout, in its own child (its package first on ``PYTHONPATH``), this one then the baseline
for ``--rounds`` pairs, as ratios across processes are noisy. Timed: ``transform`` of one
float64 row, and ``transform``, ``inverse_transform`` and (AE only: the VAE's is dominated by
its Monte Carlo draws) ``score_samples`` of 10,000 float32 and float64 rows; the median of
``--calls`` calls (one row) or 15, after an untimed call. One thread.
"""

from functools import partial
from pathlib import Path

import _harness as harness
import numpy as np


def child(calls):
    from _datasets import digits

    from sklearn_ae import AutoencoderTransformer, VAETransformer

    harness.limit_threads(1)
    X64, times = np.tile(digits(), (6, 1))[:10_000], {}
    for cls in (AutoencoderTransformer, VAETransformer):
        harness.recorded_fit(est := cls(n_components=8, random_state=0), digits())
        inputs = [("transform", "1 float64 row", digits()[:1].copy(), calls)]
        for X in (X64.astype(np.float32), X64):
            r = f"10,000 {X.dtype} rows"
            inputs += [("transform", r, X, 15), ("inverse_transform", r, est.transform(X), 15)]
            inputs += [("score_samples", r, X, 15)] if cls is AutoencoderTransformer else []
        for method, rows, A, n in inputs:
            (fn := getattr(est, method))(A)
            walls = [wall for wall, _ in harness.repeat(lambda _: fn(A), n)]
            times[f"{cls.__name__} {method}, {rows}"] = harness.median(walls)
    return times


def cases(args):
    launch = partial(harness.run_child, __file__, {"calls": args.calls})
    fits = {"this": partial(launch, checkout=harness.ROOT)}
    fits["baseline"] = partial(launch, checkout=args.baseline)
    yield harness.Case({"baseline": str(args.baseline)}, fits, rounds=args.rounds)


def report(records, args):
    this, base = (r["runs"] for r in records)
    rows = [
        [key, *(f"{1000 * harness.median(r[key] for r in runs):.3f}" for runs in (this, base))]
        + [f"{harness.median(a[key] / b[key] for a, b in zip(this, base)):.2f}"]
        for key in this[0]
    ]
    title = f"this checkout against {args.baseline}, 1 thread, {args.rounds} pairs of processes"
    header = "call | this, ms | baseline, ms | this / baseline (median of pairs)"
    return [harness.Table("latency", title, header, rows)]


BASELINE = {"type": Path, "required": True, "help": "a checkout to compare with"}
OPTIONS = {"--baseline": BASELINE, "--rounds": 5, "--calls": 300}
harness.declare(__name__, cases, report, OPTIONS, child, threads=None)
