"""Does a memmap fit's memory grow with the number of rows?

Two float32 files of 500 features, 50,000 and 200,000 rows (``bench_memory.write_data``),
each fitted from ``np.load(path, mmap_mode="r")`` in a fresh child (``bench_memory.child``)
by ``AutoencoderTransformer(8, max_iter=1, batch_size=1024)`` with default early stopping, as
a user's fit. The child samples its anonymous memory (``RssAnon``; not the file's pages, which
are page cache) every 2 ms; the result is the median over rounds of large minus small peak
increase. One torch/BLAS thread; Linux only.
"""

import tempfile
from functools import partial
from pathlib import Path

import _harness as harness
import bench_memory

N_FEATURES = 500


def cases(args):
    sizes = [int(n) for n in args.rows.split(",")]
    params = {"estimator": args.estimator, "n_components": 8, "max_iter": 1}
    params.update(batch_size=1024, random_state=0)
    with tempfile.TemporaryDirectory() as tmp:
        paths = {n: str(Path(tmp) / f"X{n}.npy") for n in sizes}
        for n, path in paths.items():
            bench_memory.write_data(path, n, N_FEATURES)
        run = {"path": "memmap", "params": params, "phases": ["np.load", "fit"], "sample": 0.002}
        child = partial(harness.run_child, bench_memory.__file__, threads=1)
        variants = {n: lambda n=n: child({**run, "data": paths[n]}) for n in sizes}
        yield harness.Case({"estimator": args.estimator}, variants, rounds=args.rounds)


def report(records, args):
    growth = [[run["phases"]["fit"]["anon"] / 2**20 for run in r["runs"]] for r in records]
    # Paired by round: what the extra rows cost, each round against its own small fit.
    differences = [b - a for a, b in zip(*growth)]
    small, large = (f"{r['variant']:,}" for r in records)
    rows = [[n, ", ".join(f"{g:.1f}" for g in gs)] for n, gs in zip((small, large), growth)]
    title = f"memmap fit, {args.estimator}, {N_FEATURES} float32 features, 1 thread"
    header = "rows | peak anonymous growth during fit, MiB (each round)"
    text = f"{large} minus {small} rows: median {harness.median(differences):.1f} MiB "
    text += f"(rounds: {', '.join(f'{d:.1f}' for d in differences)})"
    return [harness.Table("growth", title, header, rows), text]


OPTIONS = {"--rows": "50000,200000", "--rounds": 3}
OPTIONS["--estimator"] = {"choices": ("ae", "vae"), "default": "ae"}
harness.declare(__name__, cases, report, OPTIONS)
