"""Inference time of this checkout against a baseline checkout: one row and 10,000 rows.

An ``AutoencoderTransformer(n_components=8)`` and a ``VAETransformer(n_components=8)``,
defaults and ``random_state=0``, fitted on digits / 16 (1,797 x 64) by each
checkout. Timed calls: ``transform`` of one float64 row (validation
included), and ``transform``, ``inverse_transform`` and (AE only; the VAE's is
a Monte Carlo estimate dominated by its draws) ``score_samples`` of 10,000
rows (the digits tiled), float32 and float64. Each checkout runs in its own
child process (its package first on ``PYTHONPATH``), the two alternating,
this checkout then the baseline, for ``--rounds`` pairs; a child fits once and
reports the median time of each call over ``--calls`` calls (one row) or 15
calls (10,000 rows), after one untimed call. The table gives each call's
median time per checkout and the median over pairs of the ratio this /
baseline: ratios across processes are noisier than within one (each process
has its own allocator and caches), hence the pairs. One torch/BLAS thread.
"""

import warnings
from pathlib import Path

import _harness as harness
import numpy as np


def child(calls):
    from _datasets import digits

    from sklearn_ae import AutoencoderTransformer, VAETransformer

    harness.limit_threads(1)
    X64 = np.tile(digits(), (6, 1))[:10_000]
    times = {}
    for cls in (AutoencoderTransformer, VAETransformer):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = cls(n_components=8, random_state=0).fit(digits())
        inputs = [("transform", "1 float64 row", digits()[:1].copy(), calls)]
        for X in (X64.astype(np.float32), X64):
            rows = f"10,000 {X.dtype} rows"
            inputs += [
                ("transform", rows, X, 15),
                ("inverse_transform", rows, est.transform(X), 15),
            ]
            inputs += [("score_samples", rows, X, 15)] if cls is AutoencoderTransformer else []
        for method, rows, A, n in inputs:
            fn = getattr(est, method)
            fn(A)
            walls = [wall for wall, _ in harness.repeat(lambda _: fn(A), n)]
            times[f"{cls.__name__} {method}, {rows}"] = harness.median(walls)
    return times


def cases(args):
    checkouts = {"this": harness.ROOT, "baseline": args.baseline}
    fits = {
        name: lambda path=path: harness.run_child(__file__, {"calls": args.calls}, checkout=path)
        for name, path in checkouts.items()
    }
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


def options(parser):
    parser.add_argument("--baseline", type=Path, required=True, help="a checkout to compare with")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=300)


BENCHMARK = harness.Benchmark(__file__, __doc__, cases, report, options, child, threads=None)

if __name__ == "__main__":
    harness.main(BENCHMARK)
