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

``--quick`` is a smoke run (360 rows, grid {2, 4}, a tiny network, 2 pairs).
On a machine that other processes keep busy, settings (2) and (3) can take far
longer than (1): a multi-threaded torch op waits at its barrier for every one
of its threads, and one descheduled thread stalls it (a --quick run on two
shared cores once took 50x longer per search at 2 torch threads than at 1).
"""

import os
import warnings

import _harness as harness
import joblib
import torch
from _datasets import digits
from joblib.parallel import get_active_backend
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from sklearn_ae import AutoencoderTransformer

N_JOBS = 2
THREAD_VARIABLES = [
    f"{name}_THREADS"
    for name in ("OMP_NUM", "MKL_NUM", "OPENBLAS_NUM", "BLIS_NUM", "VECLIB_MAXIMUM", "NUMEXPR_NUM")
]
# Setting: (name, torch threads of this process and the workers' inner_max_num_threads,
# None for every core; "loky" for loky's own rule, cpu_count // n_jobs).
SETTINGS = {
    "1": ("(1) one thread per fit", 1, 1),
    "2": ("(2) parent unlimited, loky's default for workers", None, "loky"),
    "3": ("(3) parent unlimited, workers forced to every core", None, None),
}


def search(X, n_jobs, grid, params):
    """One whole search, timed."""
    ae = AutoencoderTransformer(random_state=0, device="cpu", **params)
    pipeline = Pipeline([("scale", StandardScaler()), ("ae", ae)])
    # error_score="raise": a failed fit would otherwise be a fast, wrong block.
    searcher = GridSearchCV(pipeline, {"ae__n_components": grid}, cv=3, n_jobs=n_jobs)
    searcher.set_params(refit=False, error_score="raise")
    return {"s": harness.timed(searcher.fit, X)[1][0]}


def cases(args):
    args.inherited = {
        name: os.environ.pop(name) for name in THREAD_VARIABLES if name in os.environ
    }
    X, args.grid, args.params, pairs = digits(), [2, 4, 8, 16], {}, 3
    if args.quick:
        X, args.grid, pairs = X[:360], [2, 4], 2
        args.params = {"hidden_layer_sizes": (16,), "max_iter": 3}
    args.shape, n_cpus = X.shape, joblib.cpu_count()
    for key in args.settings.split(","):
        name, parent, inner = SETTINGS[key.strip()]
        parent, config = parent or n_cpus, {"backend": "loky"}
        if inner != "loky":
            config["inner_max_num_threads"] = inner or n_cpus
        harness.log(f"[{name}]")
        torch.set_num_threads(parent)
        # The case runs while this generator waits at its yield, inside these
        # contexts: the limits and the backend hold for the setting's searches.
        with (
            threadpool_limits(parent),
            joblib.parallel_config(**config),
            warnings.catch_warnings(),
        ):
            # scikit-learn passes these filters on to its joblib workers.
            warnings.simplefilter("ignore", ConvergenceWarning)
            # Untimed: the workers' start-up (processes, imports).
            for n_jobs in (1, N_JOBS):
                search(X, n_jobs, args.grid[:N_JOBS], {"hidden_layer_sizes": (4,), "max_iter": 1})
            # The same reusable executor as the searches' (same backend, n_jobs
            # and environment), so these are the processes that ran the fits.
            tasks = (joblib.delayed(torch.get_num_threads)() for _ in range(2 * N_JOBS))
            workers = sorted(set(joblib.Parallel(n_jobs=N_JOBS)(tasks)))
            backend = type(get_active_backend()[0]).__name__.removesuffix("Backend").lower()
            params = {"setting": name, "backend": backend, "parent": parent, "workers": workers}
            variants = {n: lambda n=n: search(X, n, args.grid, args.params) for n in (1, N_JOBS)}
            yield harness.Case(params, variants, rounds=args.pairs or pairs)


def report(records, args):
    rows = []
    for serial, parallel in zip(records[::2], records[1::2]):
        a, b = ([run["s"] for run in r["runs"]] for r in (serial, parallel))
        ratios, workers = harness.paired(a, b), serial["workers"]
        row = [serial[k] for k in ("setting", "backend", "parent")] + ["/".join(map(str, workers))]
        row.append(f"{N_JOBS * max(workers)} on {joblib.cpu_count()}")
        row += [f"{x:.2f}" for x in (harness.median(a), harness.median(b), harness.median(ratios))]
        rows.append(row + [f"{min(ratios):.2f}-{max(ratios):.2f}"])
    params = ", ".join(f"{k}={v!r}" for k, v in args.params.items()) or "defaults"
    inherited = ", ".join(f"{k}={v}" for k, v in args.inherited.items()) or "none were set"
    return [
        f"- search: GridSearchCV(Pipeline([StandardScaler(), AutoencoderTransformer({params}, "
        f"random_state=0)]), n_components {args.grid}, cv=3, refit=False) on digits "
        f"{args.shape}; n_jobs=1 against n_jobs={N_JOBS}, {len(records[0]['runs'])} interleaved "
        f"pairs\n- os.cpu_count() {os.cpu_count()}, joblib.cpu_count() {joblib.cpu_count()}; "
        f"joblib {joblib.__version__}\n- thread variables removed from the environment at "
        f"start-up: {inherited}\n- times: wall seconds per whole search, median over pairs. "
        f"Ratio: n_jobs=1 time / n_jobs={N_JOBS} time within a pair, median over pairs; > 1: "
        "the parallel search is faster.",
        harness.Table(
            "searches",
            None,
            "setting | backend | torch threads, parent | torch threads, loky worker | threads "
            f"busy at n_jobs={N_JOBS} | n_jobs=1 s | n_jobs={N_JOBS} s | ratio (median) | ratio "
            "min-max",
            [list(map(str, row)) for row in rows],
        ),
    ]


def options(parser):
    parser.add_argument("--pairs", type=int, help="A B pairs per setting (default 3; 2 quick)")
    parser.add_argument("--settings", default="1,2,3", help="a subset of the settings: 1,3")


QUICK = "smoke run: 360 rows, grid {2, 4}, a tiny network, 2 pairs; numbers meaningless"
BENCHMARK = harness.Benchmark(__file__, __doc__, cases, report, options, threads=None, quick=QUICK)

if __name__ == "__main__":
    harness.main(BENCHMARK)
