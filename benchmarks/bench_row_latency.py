"""Inference time of this checkout against a baseline checkout: one row and 10,000 rows.

What it measures
----------------
An ``AutoencoderTransformer(n_components=8)`` and a ``VAETransformer(n_components=8)``,
defaults and ``random_state=0``, fitted on digits / 16 (1,797 x 64) by each
checkout. Timed calls: ``transform`` of one float64 row (validation
included), and ``transform``, ``inverse_transform`` and (AE only; the VAE's is
a Monte Carlo estimate dominated by its draws) ``score_samples`` of 10,000
rows (the digits tiled), float32 and float64. Each checkout runs in its own
child process (its package first on ``PYTHONPATH``), the two alternating,
this checkout then the baseline, for ``--rounds`` pairs; a child fits once and
reports the median time of each call over ``--calls`` calls (one row) or 15
calls (10,000 rows). The table gives each call's median time per checkout and
the median over pairs of the ratio this / baseline. One torch/BLAS thread::

    git worktree add /tmp/base <commit>
    .venv/bin/python benchmarks/bench_row_latency.py --baseline /tmp/base
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(calls):
    import warnings

    import numpy as np
    import torch
    from sklearn.datasets import load_digits
    from threadpoolctl import threadpool_limits

    from sklearn_ae import AutoencoderTransformer, VAETransformer

    torch.set_num_threads(1)
    threadpool_limits(1)
    digits = load_digits().data / 16.0
    X64 = np.tile(digits, (6, 1))[:10_000]
    X32 = X64.astype(np.float32)
    row = digits[:1].copy()
    times = {}

    def median_time(fn, A, n):
        fn(A)
        samples = []
        for _ in range(n):
            start = time.perf_counter()
            fn(A)
            samples.append(time.perf_counter() - start)
        return statistics.median(samples)

    for cls in (AutoencoderTransformer, VAETransformer):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = cls(n_components=8, random_state=0).fit(digits)
        name = cls.__name__
        times[f"{name} transform, 1 float64 row"] = median_time(est.transform, row, calls)
        for X in (X32, X64):
            Z = est.transform(X)
            cases = {
                "transform": (est.transform, X),
                "inverse_transform": (est.inverse_transform, Z),
            }
            if cls is AutoencoderTransformer:
                cases["score_samples"] = (est.score_samples, X)
            for method, (fn, A) in cases.items():
                times[f"{name} {method}, 10,000 {X.dtype} rows"] = median_time(fn, A, 15)
    print(json.dumps(times))


def run_child(path, calls):
    env = dict(os.environ, PYTHONPATH=str(path))
    out = subprocess.run(
        [sys.executable, __file__, "--child", "--calls", str(calls)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="a checkout of the baseline version")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.calls)
        return
    if args.baseline is None:
        parser.error("--baseline is required")
    pairs = [(run_child(ROOT, args.calls), run_child(args.baseline, args.calls))]
    for _ in range(args.rounds - 1):
        pairs.append((run_child(ROOT, args.calls), run_child(args.baseline, args.calls)))
    print(f"# this checkout against {args.baseline}, 1 thread, {args.rounds} pairs of processes")
    print("| call | this, ms | baseline, ms | this / baseline (median of pairs) |")
    print("|---|---:|---:|---:|")
    for key in pairs[0][0]:
        this = statistics.median(a[key] for a, _ in pairs)
        base = statistics.median(b[key] for _, b in pairs)
        ratio = statistics.median(a[key] / b[key] for a, b in pairs)
        print(f"| {key} | {1000 * this:.3f} | {1000 * base:.3f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
