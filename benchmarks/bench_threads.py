"""Thread settings of a fit, on a quiet machine and beside one busy process.

What it measures
----------------
Seconds per epoch of ``AutoencoderTransformer(n_components=8, max_iter=E,
early_stopping=False, random_state=0)`` (default network 128-64, batch
"auto") on two workloads: digits (1,797 x 64, ``E=40``) and 60,000 patches
(8x8x3 patches of scikit-learn's two sample images, 30,000 per image, 192
features, ``E=3``). Variants, by the ``n_threads`` parameter:

* ``auto``: the default, the count the estimator chooses from the work of a step;
* ``1`` and ``2``: fixed counts;
* ``None`` with torch's default (one thread per core): what the estimators
  did before ``n_threads`` existed.

Each variant runs in a fresh child process (so torch's thread pool starts
from its default), interleaved in rounds (auto, 1, 2, None, auto, ...), on a
quiet machine and then beside one busy process (a child spinning a numpy
matrix product on one thread, started before and stopped after the round).
The result per (condition, workload, variant) is the median over rounds of
the wall seconds per epoch; "ratio to best" divides auto's median by the best
variant's.
"""

import subprocess
import sys
import time
import warnings
from contextlib import contextmanager, nullcontext

import _harness as harness

VARIANTS = ("auto", "1", "2", "None")
EPOCHS = {"digits": 40, "patches": 3}
BUSY = "import numpy as np, threadpoolctl\nthreadpoolctl.threadpool_limits(1)\n"
BUSY += "a = np.random.rand(400, 400)\nwhile True:\n    a @ a\n"


def child(workload, variant, quick):
    """One fit in a fresh process, whose torch thread pool starts from its default."""
    import numpy as np
    from _datasets import digits, patches

    from sklearn_ae import AutoencoderTransformer

    X = digits().astype(np.float32) if workload == "digits" else patches(3000 if quick else 30000)
    n_threads = None if variant == "None" else variant if variant == "auto" else int(variant)
    est = AutoencoderTransformer(8, max_iter=2 if quick else EPOCHS[workload], n_threads=n_threads)
    est.set_params(early_stopping=False, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter is the point here
        _, (seconds, _) = harness.timed(est.fit, X)
    return {"per_epoch": seconds / est.n_iter_}


@contextmanager
def busy():
    """One process spinning a one-thread matrix product, for the length of a round."""
    process = subprocess.Popen([sys.executable, "-c", BUSY])
    time.sleep(0.5)
    try:
        yield
    finally:
        process.kill()
        process.wait()


def cases(args):
    for condition in ("quiet", "busy"):
        for workload in ("digits", "patches"):
            run = {"workload": workload, "quick": args.quick}
            variants = {
                v: lambda v=v: harness.run_child(__file__, {**run, "variant": v}) for v in VARIANTS
            }
            params = {"condition": condition, "workload": workload}
            around = busy if condition == "busy" else nullcontext
            yield harness.Case(
                params, variants, rounds=1 if args.quick else args.rounds, around=around
            )


def report(records, args):
    rows = {}
    for r in records:
        per_epoch = harness.median(run["per_epoch"] for run in r["runs"])
        rows.setdefault((r["condition"], r["workload"]), {})[r["variant"]] = per_epoch
    table = [
        [*key, *(f"{1000 * ms[v]:.1f}" for v in VARIANTS), f"{ms['auto'] / min(ms.values()):.2f}"]
        for key, ms in rows.items()
    ]
    title = f"thread settings, {len(records[0]['runs'])} rounds, ms per epoch (median)"
    header = "condition | workload | auto | 1 | 2 | None (torch default) | auto / best"
    return [harness.Table("threads", title, header, table)]


def options(parser):
    parser.add_argument("--rounds", type=int, default=5)


QUICK = "smoke run: 1 round, 2 epochs, 6,000 patches; numbers meaningless"
BENCHMARK = harness.Benchmark(__file__, __doc__, cases, report, options, child, None, QUICK)

if __name__ == "__main__":
    harness.main(BENCHMARK)
