"""Wall time of a parallel grid search (n_jobs=2) against the same search on one process.

What it measures
----------------
``GridSearchCV(Pipeline([StandardScaler(), AutoencoderTransformer()]),
{"ae__n_components": [2, 4, 8, 16]}, cv=3, refit=False)`` over scikit-learn's
``load_digits`` scaled to [0, 1] (1797 x 64): 12 fits of the default network.
Each block is one whole search; ``refit=False`` because the final refit runs in
this process whatever ``n_jobs`` is, and would only dilute the ratio. The
ratio is (n_jobs=1 time) / (n_jobs=2 time): above 1, the parallel search is
faster. joblib's default backend (loky, worker processes) runs ``n_jobs=2``.

Three thread settings, each reported with the torch thread count in this
process and in a loky worker (``torch.get_num_threads()`` inside a task):

(1) one thread per fit: this process at 1 torch thread, the workers at 1
    (``joblib.parallel_config(inner_max_num_threads=1)``): the gain of fitting
    two models at once at equal threads per fit;
(2) this process NOT limited (torch at every core) against loky's default for
    its workers, ``cpu_count // n_jobs`` threads each: shows whether the
    workers oversubscribe the CPU, and whether two processes beat one
    process's intra-op threads on the same cores;
(3) as (2), with the workers forced to every core each
    (``inner_max_num_threads=cpu_count``): what oversubscription would cost.

Method
------
CPU speed on shared machines drifts over minutes, so the two searches run in
one process, interleaved in short blocks (A B A B ...) for several pairs; each
ratio is taken within a pair and the median over pairs is reported. Before a
setting's first pair a tiny search runs untimed with each ``n_jobs``, so that
the workers' start-up (processes, imports) is not timed. The thread-limit
variables (``OMP_NUM_THREADS``, ...) are removed from this process's
environment at start-up: with them set, loky copies them to its workers
instead of applying its own rule, and the settings above would not be the
ones measured.

Running it
----------
``python benchmarks/bench_parallel.py`` (a few minutes on two idle cores).
Options: ``--pairs P`` (default 3), ``--settings 1,3`` (a subset of the
settings) and ``--quick`` (a smoke run: the first 360 rows, grid {2, 4}, a
tiny network, 2 pairs; numbers meaningless; about 80 s on two busy shared
cores, nearly all of it the stalls below).

On a machine that other processes keep busy, settings (2) and (3) can take far
longer than (1): a multi-threaded torch op waits at its barrier for every one
of its threads, and one descheduled thread stalls it (a --quick run on two
shared cores measured 8.6 s per search at 2 torch threads against 0.15 s at 1).
"""

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone

import joblib
import numpy as np
import sklearn
import torch
from _report import cpu_model, markdown_table
from joblib.parallel import get_active_backend
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

import sklearn_ae
from sklearn_ae import AutoencoderTransformer

N_JOBS = 2
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


@dataclass
class Setting:
    name: str
    parent_threads: int
    inner_max_num_threads: int | None  # None: loky's own rule, cpu_count // n_jobs
    worker_threads: list = field(default_factory=list)
    backend: str = ""
    serial: list = field(default_factory=list)  # seconds per n_jobs=1 block
    parallel: list = field(default_factory=list)  # seconds per n_jobs=2 block


def search(X, *, n_jobs, grid, estimator_params):
    pipeline = Pipeline(
        [
            ("scale", StandardScaler()),
            ("ae", AutoencoderTransformer(random_state=0, device="cpu", **estimator_params)),
        ]
    )
    # error_score="raise": a failed fit would otherwise be a fast, wrong block.
    GridSearchCV(
        pipeline,
        {"ae__n_components": grid},
        cv=3,
        n_jobs=n_jobs,
        refit=False,
        error_score="raise",
    ).fit(X)


def run_setting(setting, X, *, pairs, grid, estimator_params, log):
    torch.set_num_threads(setting.parent_threads)
    config = {"backend": "loky"}
    if setting.inner_max_num_threads is not None:
        config["inner_max_num_threads"] = setting.inner_max_num_threads
    with (
        threadpool_limits(limits=setting.parent_threads),
        joblib.parallel_config(**config),
        warnings.catch_warnings(),
    ):
        # scikit-learn passes these filters on to its joblib workers.
        warnings.simplefilter("ignore", ConvergenceWarning)
        setting.backend = type(get_active_backend()[0]).__name__
        tiny = {"hidden_layer_sizes": (4,), "max_iter": 1}
        for n_jobs in (1, N_JOBS):
            search(X, n_jobs=n_jobs, grid=grid[:N_JOBS], estimator_params=tiny)
        # The same reusable executor as the searches' (same backend, n_jobs
        # and environment), so these are the processes that ran the fits.
        setting.worker_threads = sorted(
            set(
                joblib.Parallel(n_jobs=N_JOBS)(
                    joblib.delayed(torch.get_num_threads)() for _ in range(2 * N_JOBS)
                )
            )
        )
        for p in range(pairs):
            for n_jobs, times in ((1, setting.serial), (N_JOBS, setting.parallel)):
                start = time.perf_counter()
                search(X, n_jobs=n_jobs, grid=grid, estimator_params=estimator_params)
                times.append(time.perf_counter() - start)
            log(
                f"  [{setting.name}] pair {p + 1}: n_jobs=1 {setting.serial[-1]:.2f} s, "
                f"n_jobs={N_JOBS} {setting.parallel[-1]:.2f} s"
            )


def rows(settings):
    out = []
    for s in settings:
        ratios = [a / b for a, b in zip(s.serial, s.parallel)]
        out.append(
            (
                s.name,
                s.backend.removesuffix("Backend").lower(),
                s.parent_threads,
                "/".join(str(n) for n in s.worker_threads),
                f"{N_JOBS * max(s.worker_threads)} on {joblib.cpu_count()}",
                f"{statistics.median(s.serial):.2f}",
                f"{statistics.median(s.parallel):.2f}",
                f"{statistics.median(ratios):.2f}",
                f"{min(ratios):.2f}-{max(ratios):.2f}",
            )
        )
    return out




def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, help="A B pairs per setting (default 3; 2 quick)")
    parser.add_argument(
        "--settings", default="1,2,3", help="comma-separated settings to run (default 1,2,3)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: small grid, tiny net")
    args = parser.parse_args(argv)

    def log(message):
        print(message, file=sys.stderr, flush=True)

    inherited = {name: os.environ.pop(name) for name in THREAD_VARIABLES if name in os.environ}
    if args.quick:
        grid, estimator_params, pairs = [2, 4], {"hidden_layer_sizes": (16,), "max_iter": 3}, 2
    else:
        grid, estimator_params, pairs = [2, 4, 8, 16], {}, 3
    pairs = args.pairs or pairs
    n_cpus = joblib.cpu_count()
    settings = {
        "1": Setting("(1) one thread per fit", 1, 1),
        "2": Setting("(2) parent unlimited, loky's default for workers", n_cpus, None),
        "3": Setting("(3) parent unlimited, workers forced to every core", n_cpus, n_cpus),
    }
    try:
        settings = [settings[key.strip()] for key in args.settings.split(",")]
    except KeyError as exc:
        parser.error(f"unknown setting {exc}; choose from {', '.join(settings)}")
    X = load_digits().data / 16.0
    if args.quick:
        X = X[:360]
    wall_start = time.perf_counter()
    for setting in settings:
        log(f"[{setting.name}]")
        run_setting(setting, X, pairs=pairs, grid=grid, estimator_params=estimator_params, log=log)
    wall = time.perf_counter() - wall_start

    text = "\n".join(
        [
            "# bench_parallel results",
            "",
            f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}; command: "
            f"`python benchmarks/bench_parallel.py {' '.join(sys.argv[1:])}`",
            f"- search: GridSearchCV(Pipeline([StandardScaler(), AutoencoderTransformer("
            f"{', '.join(f'{k}={v!r}' for k, v in estimator_params.items()) or 'defaults'}, "
            f"random_state=0)]), n_components {grid}, cv=3, refit=False) on digits "
            f"{X.shape}; n_jobs=1 against n_jobs={N_JOBS}, {pairs} interleaved pairs",
            f"- CPU: {cpu_model()}; os.cpu_count() {os.cpu_count()}, joblib.cpu_count() {n_cpus}",
            "- thread variables removed from the environment at start-up: "
            + (", ".join(f"{k}={v}" for k, v in inherited.items()) or "none were set"),
            f"- torch {torch.__version__}, scikit-learn {sklearn.__version__}, "
            f"joblib {joblib.__version__}, sklearn_ae {sklearn_ae.__version__}, "
            f"numpy {np.__version__}, Python {platform.python_version()}",
            "- times: wall seconds per whole search, median over pairs. Ratio: n_jobs=1 time "
            f"/ n_jobs={N_JOBS} time within a pair, median over pairs; > 1: the parallel "
            "search is faster.",
            f"- wall time: {wall:.0f} s"
            + (" (--quick: numbers are not meaningful)" if args.quick else ""),
            "",
            markdown_table(
                [
                    "setting",
                    "backend",
                    "torch threads, parent",
                    "torch threads, loky worker",
                    f"threads busy at n_jobs={N_JOBS}",
                    "n_jobs=1 s",
                    f"n_jobs={N_JOBS} s",
                    "ratio (median)",
                    "ratio min-max",
                ],
                rows(settings),
            ),
            "",
        ]
    )
    print(text)


if __name__ == "__main__":
    main()
