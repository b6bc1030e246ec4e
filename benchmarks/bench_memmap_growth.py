"""Does a memmap fit's memory grow with the number of rows?

What it measures
----------------
Two float32 ``.npy`` files of 500 features, 50,000 rows (100 MB) and 200,000
rows (400 MB) (``--rows``), low rank plus noise, written in chunks. Each is
fitted in a fresh child process, read with ``np.load(path, mmap_mode="r")``,
by ``AutoencoderTransformer(n_components=8, max_iter=1, batch_size=1024,
random_state=0)`` (``--estimator vae`` for the VAE): default early stopping,
so a validation split is held out, as a user's fit would.

The child samples its anonymous resident memory (``RssAnon`` of
``/proc/self/status``: the heap, tensors, copies; not the file's pages,
which are clean page cache) every 2 ms during ``fit`` and reports the peak
increase over the value just before ``fit``. Children run interleaved, small
then large, ``--rounds`` times (default 3); the result is the median over
rounds of (large - small): what 150,000 more rows cost. torch and BLAS run on
one thread. Linux only.

Run::

    .venv/bin/python benchmarks/bench_memmap_growth.py
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

N_FEATURES = 500


def write(path, n_samples):
    rng = np.random.RandomState(0)
    W = rng.normal(size=(8, N_FEATURES)).astype(np.float32)
    out = np.lib.format.open_memmap(
        path, mode="w+", dtype=np.float32, shape=(n_samples, N_FEATURES)
    )
    for start in range(0, n_samples, 65536):
        k = min(65536, n_samples - start)
        z = rng.normal(size=(k, 8)).astype(np.float32)
        out[start : start + k] = z @ W + 0.1 * rng.normal(size=(k, N_FEATURES)).astype(np.float32)
    out.flush()
    del out


def anonymous_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no RssAnon in /proc/self/status")


def child(path, estimator):
    import warnings

    import torch

    torch.set_num_threads(1)
    from sklearn_ae import AutoencoderTransformer, VAETransformer

    cls = VAETransformer if estimator == "vae" else AutoencoderTransformer
    X = np.load(path, mmap_mode="r")
    peak, done = [0.0], [False]

    def sample():
        while not done[0]:
            peak[0] = max(peak[0], anonymous_mib())
            time.sleep(0.002)

    before = anonymous_mib()
    thread = threading.Thread(target=sample)
    thread.start()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one epoch ends at max_iter on purpose
        cls(n_components=8, max_iter=1, batch_size=1024, random_state=0).fit(X)
    seconds = time.perf_counter() - start
    done[0] = True
    thread.join()
    print(json.dumps({"growth_mib": peak[0] - before, "seconds": seconds}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="50000,200000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--estimator", choices=("ae", "vae"), default="ae")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return
    small, large = (int(n) for n in args.rows.split(","))
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    with tempfile.TemporaryDirectory() as tmp:
        paths = {n: os.path.join(tmp, f"X{n}.npy") for n in (small, large)}
        for n, path in paths.items():
            write(path, n)
        growth = {small: [], large: []}
        for _ in range(args.rounds):
            for n in (small, large):
                out = subprocess.run(
                    [sys.executable, __file__, "--child", paths[n], args.estimator],
                    check=True,
                    capture_output=True,
                    text=True,
                    env=env,
                ).stdout
                growth[n].append(json.loads(out.strip().splitlines()[-1])["growth_mib"])
    differences = [b - a for a, b in zip(growth[small], growth[large])]
    print(f"# memmap fit, {args.estimator}, {N_FEATURES} float32 features, 1 thread")
    print("| rows | peak anonymous growth during fit, MiB (each round) |")
    print("|---:|---|")
    for n in (small, large):
        print(f"| {n:,} | {', '.join(f'{g:.1f}' for g in growth[n])} |")
    print(
        f"\n{large:,} minus {small:,} rows: median {statistics.median(differences):.1f} MiB "
        f"(rounds: {', '.join(f'{d:.1f}' for d in differences)})"
    )


if __name__ == "__main__":
    main()
