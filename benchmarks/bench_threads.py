"""Thread settings of a fit, on a quiet machine and beside one busy process.

Seconds per epoch of a default ``AutoencoderTransformer(8, early_stopping=False)`` on digits
(40 epochs) and 60,000 patches (3 epochs), by ``n_threads``: ``auto`` (the default), ``1``,
``2``, and ``None`` with torch's default thread per core (before ``n_threads`` existed). Each
fit runs in a fresh child, so torch's pool starts from its default; variants alternate in
rounds, quiet and then beside a process spinning a one-thread matrix product. Reported: the
median over rounds, and auto's over the best variant's.
"""

import subprocess
import sys
import time
from contextlib import contextmanager, nullcontext
from functools import partial

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
    (seconds, _), _ = harness.recorded_fit(est.set_params(early_stopping=False, random_state=0), X)
    return {"per_epoch": seconds / est.n_iter_}


@contextmanager
def busy():
    process = subprocess.Popen([sys.executable, "-c", BUSY])
    time.sleep(0.5)
    try:
        yield
    finally:
        process.kill()
        process.wait()


def cases(args):
    rounds, launch = 1 if args.quick else args.rounds, partial(harness.run_child, __file__)
    for condition, workload in [(c, w) for c in ("quiet", "busy") for w in EPOCHS]:
        run = {"workload": workload, "quick": args.quick}
        variants = {v: partial(launch, run | {"variant": v}) for v in VARIANTS}
        around = busy if condition == "busy" else nullcontext
        params = {"condition": condition, "workload": workload}
        yield harness.Case(params, variants, rounds, around=around)


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


QUICK = "smoke run: 1 round, 2 epochs, 6,000 patches; numbers meaningless"
harness.declare(__name__, cases, report, {"--rounds": 5}, child, None, QUICK)
