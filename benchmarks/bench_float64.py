"""Inference on float64 rows against float32 rows.

``transform``, ``score_samples`` and ``inverse_transform`` of default
``AutoencoderTransformer(8)`` and ``VAETransformer(8)`` fitted on digits, on 10,000 rows as
float64 and as float32, calls alternating after an untimed call of each; reported: the median
over pairs of the time ratio, and the median times. One thread.
"""

import _harness as harness
import numpy as np
from _datasets import digits

from sklearn_ae import AutoencoderTransformer, VAETransformer


def cases(args):
    X64 = np.tile(digits(), (args.rows // 1797 + 1, 1))[: args.rows]
    X32 = X64.astype(np.float32)
    for cls in (AutoencoderTransformer, VAETransformer):
        harness.recorded_fit(est := cls(n_components=8, random_state=0), digits())
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
        ratio = f"{harness.median(harness.paired(a, b)):.2f}"
        rows.append([wide["estimator"], wide["method"], *ms, ratio])
    title = f"float64 against float32 rows, {args.rows:,} x 64, 1 thread, {args.rounds} pairs"
    header = "estimator | method | float64 ms | float32 ms | float64 / float32 (median of pairs)"
    return [harness.Table("float64", title, header, rows)]


harness.declare(__name__, cases, report, {"--rounds": 40, "--rows": 10_000})
