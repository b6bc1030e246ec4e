"""Inference on float64 rows against float32 rows.

An ``AutoencoderTransformer(n_components=8)`` and a ``VAETransformer(n_components=8)``,
defaults and ``random_state=0``, fitted on digits / 16 (1,797 x 64). Their
``transform``, ``score_samples`` and ``inverse_transform`` run on 10,000 rows
(the digits tiled), once as float64 (numpy's default) and once as the same
rows in float32. Calls alternate float64, float32, float64, ... (``--rounds``
pairs, default 40, after one untimed call of each); each pair gives a ratio of
the float64 call's time to the float32 call's, and the table reports the
median ratio and the median times. One torch/BLAS thread.
"""

import warnings

import _harness as harness
import numpy as np
from _datasets import digits

from sklearn_ae import AutoencoderTransformer, VAETransformer


def cases(args):
    X64 = np.tile(digits(), (args.rows // 1797 + 1, 1))[: args.rows]
    X32 = X64.astype(np.float32)
    for cls in (AutoencoderTransformer, VAETransformer):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = cls(n_components=8, random_state=0).fit(digits())
        inputs = {"transform": (X64, X32), "score_samples": (X64, X32)}
        inputs["inverse_transform"] = est.transform(X64), est.transform(X32)
        for method, (a, b) in inputs.items():
            variants = {
                dtype: lambda A=A, fn=getattr(est, method): {"s": harness.timed(fn, A)[1][0]}
                for dtype, A in (("float64", a), ("float32", b))
            }
            params = {"estimator": cls.__name__, "method": method}
            yield harness.Case(params, variants, rounds=args.rounds, warm_up=True)


def report(records, args):
    rows = []
    for wide, narrow in zip(records[::2], records[1::2]):
        a, b = ([run["s"] for run in r["runs"]] for r in (wide, narrow))
        ms = [f"{1000 * harness.median(t):.2f}" for t in (a, b)]
        rows.append(
            [wide["estimator"], wide["method"], *ms, f"{harness.median(harness.paired(a, b)):.2f}"]
        )
    title = f"float64 against float32 rows, {args.rows:,} x 64, 1 thread, {args.rounds} pairs"
    header = "estimator | method | float64 ms | float32 ms | float64 / float32 (median of pairs)"
    return [harness.Table("float64", title, header, rows)]


def options(parser):
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--rows", type=int, default=10_000)


BENCHMARK = harness.Benchmark(__file__, __doc__, cases, report, options)

if __name__ == "__main__":
    harness.main(BENCHMARK)
