"""Which default fits on digits reach ``max_iter`` (a ``ConvergenceWarning``).

What it measures
----------------
``AutoencoderTransformer(n_components=d)`` and ``VAETransformer(n_components=d)``
with default parameters and ``random_state`` in ``--seeds`` (default 0, 1, 2),
for d in 2, 4, 8, 16, 32, fitted on ``load_digits().data / 16`` three ways:
the 70% training split of ``train_test_split(..., test_size=0.3,
random_state=0)`` (``train``), all 1,797 rows (``all``), and the training
split without its constant columns (``VarianceThreshold()``, ``varying``).
Each row gives the epochs run (``n_iter_``), the epoch kept (``best_epoch_``;
0 is the linear start) and whether the fit warned. One torch/BLAS thread. The
last line counts the fits that warned. Run::

    .venv/bin/python benchmarks/bench_convergence.py
"""

import argparse
import time
import warnings

import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_selection import VarianceThreshold
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from sklearn_ae import AutoencoderTransformer, VAETransformer

SIZES = (2, 4, 8, 16, 32)


def data_sets():
    X = load_digits().data / 16.0
    X_train, _ = train_test_split(X, test_size=0.3, random_state=0)
    return {
        "train": X_train,
        "all": X,
        "varying": VarianceThreshold().fit_transform(X_train),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--data", nargs="+", default=["train", "all", "varying"])
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    torch.set_num_threads(1)
    threadpool_limits(1)
    sets = data_sets()
    print("| data | estimator | d | seed | epochs | kept epoch | s | warned |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    warned = total = 0
    for name in args.data:
        for cls in (AutoencoderTransformer, VAETransformer):
            for d in SIZES:
                for seed in seeds:
                    start = time.perf_counter()
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        est = cls(n_components=d, random_state=seed).fit(sets[name])
                    seconds = time.perf_counter() - start
                    hit = any(issubclass(w.category, ConvergenceWarning) for w in caught)
                    warned += hit
                    total += 1
                    print(
                        f"| {name} | {cls.__name__} | {d} | {seed} | {est.n_iter_} | "
                        f"{est.best_epoch_} | {seconds:.1f} | {'yes' if hit else 'no'} |",
                        flush=True,
                    )
    print(f"\n{warned} of {total} default fits warned (ConvergenceWarning).")


if __name__ == "__main__":
    main()
