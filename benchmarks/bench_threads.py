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
variant's. Run::

    .venv/bin/python benchmarks/bench_threads.py            # 5 rounds
    .venv/bin/python benchmarks/bench_threads.py --quick    # smoke run
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

VARIANTS = ("auto", "1", "2", "None")
EPOCHS = {"digits": 40, "patches": 3}

BUSY = (
    "import numpy as np, threadpoolctl\n"
    "threadpoolctl.threadpool_limits(1)\n"
    "a = np.random.rand(400, 400)\n"
    "while True:\n"
    "    a @ a\n"
)


def child(workload, variant, quick):
    import warnings

    import numpy as np

    if workload == "digits":
        from sklearn.datasets import load_digits

        X = (load_digits().data / 16.0).astype(np.float32)
    else:
        from sklearn.datasets import load_sample_images
        from sklearn.feature_extraction.image import extract_patches_2d

        rng = np.random.RandomState(0)
        per_image = 3000 if quick else 30000
        patches = np.concatenate(
            [
                extract_patches_2d(image, (8, 8), max_patches=per_image, random_state=rng)
                for image in load_sample_images().images
            ]
        )
        X = (patches.reshape(len(patches), -1) / 255.0).astype(np.float32)
    from sklearn_ae import AutoencoderTransformer

    n_threads = None if variant == "None" else ("auto" if variant == "auto" else int(variant))
    epochs = 2 if quick else EPOCHS[workload]
    est = AutoencoderTransformer(
        n_components=8, max_iter=epochs, early_stopping=False, random_state=0, n_threads=n_threads
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter is the point here
        start = time.perf_counter()
        est.fit(X)
        seconds = time.perf_counter() - start
    print(json.dumps({"per_epoch": seconds / est.n_iter_}))


def run(workload, variant, quick):
    out = subprocess.run(
        [sys.executable, __file__, "--child", workload, variant] + (["--quick"] if quick else []),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])["per_epoch"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child, args.quick)
        return
    rounds = 1 if args.quick else args.rounds
    results = {}
    for condition in ("quiet", "busy"):
        for workload in ("digits", "patches"):
            times = {v: [] for v in VARIANTS}
            for _ in range(rounds):
                busy = None
                if condition == "busy":
                    busy = subprocess.Popen([sys.executable, "-c", BUSY])
                    time.sleep(0.5)
                try:
                    for variant in VARIANTS:
                        times[variant].append(run(workload, variant, args.quick))
                finally:
                    if busy is not None:
                        busy.kill()
                        busy.wait()
            results[(condition, workload)] = {v: statistics.median(t) for v, t in times.items()}
    print(f"# thread settings, {os.cpu_count()} cores, {rounds} rounds, ms per epoch (median)")
    print("| condition | workload | auto | 1 | 2 | None (torch default) | auto / best |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for (condition, workload), medians in results.items():
        best = min(medians.values())
        cells = " | ".join(f"{1000 * medians[v]:.1f}" for v in VARIANTS)
        print(f"| {condition} | {workload} | {cells} | {medians['auto'] / best:.2f} |")


if __name__ == "__main__":
    main()
