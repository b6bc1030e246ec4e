"""Does a memmap fit's memory grow with the number of rows?

What it measures
----------------
Two float32 ``.npy`` files of 500 features, 50,000 rows (100 MB) and 200,000
rows (400 MB) (``--rows``), low rank plus noise (``bench_memory.write_data``).
Each is fitted in a fresh child process (``bench_memory.child``), read with
``np.load(path, mmap_mode="r")``, by ``AutoencoderTransformer(n_components=8,
max_iter=1, batch_size=1024, random_state=0)`` (``--estimator vae`` for the
VAE): default early stopping, so a validation split is held out, as a user's
fit would.

The child samples its anonymous resident memory (``RssAnon`` of
``/proc/self/status``: the heap, tensors, copies; not the file's pages,
which are clean page cache) every 2 ms during ``fit`` and reports the peak
increase over the value just before ``fit``. Children run interleaved, small
then large, ``--rounds`` times (default 3); the result is the median over
rounds of (large - small): what 150,000 more rows cost. torch and BLAS run on
one thread. Linux only.
"""

import tempfile
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
        script = bench_memory.__file__
        variants = {
            n: lambda n=n: harness.run_child(script, {**run, "data": paths[n]}, threads=1)
            for n in sizes
        }
        yield harness.Case({"estimator": args.estimator}, variants, rounds=args.rounds)


def report(records, args):
    growth = [[run["phases"]["fit"]["anon"] / 2**20 for run in r["runs"]] for r in records]
    small, large = (r["variant"] for r in records)
    # Paired by round: what the extra rows cost, each round against its own small fit.
    differences = [b - a for a, b in zip(*growth)]
    rows = [
        [f"{r['variant']:,}", ", ".join(f"{g:.1f}" for g in gs)] for r, gs in zip(records, growth)
    ]
    return [
        harness.Table(
            "growth",
            f"memmap fit, {args.estimator}, {N_FEATURES} float32 features, 1 thread",
            "rows | peak anonymous growth during fit, MiB (each round)",
            rows,
        ),
        f"{large:,} minus {small:,} rows: median {harness.median(differences):.1f} MiB "
        f"(rounds: {', '.join(f'{d:.1f}' for d in differences)})",
    ]


def options(parser):
    parser.add_argument("--rows", default="50000,200000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--estimator", choices=("ae", "vae"), default="ae")


BENCHMARK = harness.Benchmark(__file__, __doc__, cases, report, options)

if __name__ == "__main__":
    harness.main(BENCHMARK)
