"""Inference on float64 rows against float32 rows.

What it measures
----------------
An ``AutoencoderTransformer(n_components=8)`` and a ``VAETransformer(n_components=8)``,
defaults and ``random_state=0``, fitted on digits / 16 (1,797 x 64). Their
``transform``, ``score_samples`` and ``inverse_transform`` run on 10,000 rows
(the digits tiled), once as float64 (numpy's default) and once as the same
rows in float32. Calls alternate float64, float32, float64, ... (``--rounds``
pairs, default 40); each pair gives a ratio of the float64 call's time to the
float32 call's, and the table reports the median ratio and the median times.
One torch/BLAS thread. Run::

    .venv/bin/python benchmarks/bench_float64.py
"""

import argparse
import statistics
import time
import warnings

import numpy as np
import torch
from sklearn.datasets import load_digits

from sklearn_ae import AutoencoderTransformer, VAETransformer


def timed(fn, X):
    start = time.perf_counter()
    fn(X)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    digits = load_digits().data / 16.0
    X64 = np.tile(digits, (args.rows // len(digits) + 1, 1))[: args.rows]
    X32 = X64.astype(np.float32)
    print(f"# float64 against float32 rows, {args.rows:,} x 64, 1 thread, {args.rounds} pairs")
    print("| estimator | method | float64 ms | float32 ms | float64 / float32 (median of pairs) |")
    print("|---|---|---:|---:|---:|")
    for cls in (AutoencoderTransformer, VAETransformer):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = cls(n_components=8, random_state=0).fit(digits)
        Z64, Z32 = est.transform(X64), est.transform(X32)
        calls = {
            "transform": (est.transform, X64, X32),
            "score_samples": (est.score_samples, X64, X32),
            "inverse_transform": (est.inverse_transform, Z64, Z32),
        }
        for name, (fn, a, b) in calls.items():
            fn(a), fn(b)  # caches and warm-up
            wide, narrow = [], []
            for _ in range(args.rounds):
                wide.append(timed(fn, a))
                narrow.append(timed(fn, b))
            ratio = statistics.median(w / n for w, n in zip(wide, narrow))
            print(
                f"| {cls.__name__} | {name} | {1000 * statistics.median(wide):.2f} | "
                f"{1000 * statistics.median(narrow):.2f} | {ratio:.2f} |"
            )


if __name__ == "__main__":
    main()
