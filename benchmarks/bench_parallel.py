"""Wall time of a parallel grid search (n_jobs=2) against the same search on one process.

``GridSearchCV`` of a scaled default ``AutoencoderTransformer`` over 4 n_components, cv=3, on
digits, ``refit=False`` (the refit runs here whatever ``n_jobs`` is); ratio within a pair,
median over pairs. Three thread settings: (1) one per fit; (2) this process at every core,
the loky workers at their default, ``cpu_count // n_jobs``: whether two processes beat one's
intra-op threads; (3) workers at every core: what oversubscription costs. An untimed search
keeps the workers' start-up out; the thread-limit variables are removed, or loky would copy
them to its workers. On a busy machine (2) and (3) can take far longer: a multi-threaded
torch op waits for every thread, and one descheduled thread stalls it.
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
THREAD_VARIABLES = "OMP_NUM MKL_NUM OPENBLAS_NUM BLIS_NUM VECLIB_MAXIMUM NUMEXPR_NUM".split()
THREAD_VARIABLES = [f"{name}_THREADS" for name in THREAD_VARIABLES]
# (name, torch threads here, workers' inner_max_num_threads); None: every core, "loky": its rule.
SETTINGS = {"1": ("(1) one thread per fit", 1, 1)}
SETTINGS["2"] = ("(2) parent unlimited, loky's default for workers", None, "loky")
SETTINGS["3"] = ("(3) parent unlimited, workers forced to every core", None, None)


def search(X, n_jobs, grid, params):
    """One whole search, timed (error_score="raise": a failed fit is no fast, wrong block)."""
    ae = AutoencoderTransformer(random_state=0, device="cpu", **params)
    pipeline = Pipeline([("scale", StandardScaler()), ("ae", ae)])
    searcher = GridSearchCV(pipeline, {"ae__n_components": grid}, cv=3, n_jobs=n_jobs)
    searcher.set_params(refit=False, error_score="raise")
    return {"s": harness.timed(searcher.fit, X)[1][0]}


def cases(args):
    args.inherited = {n: os.environ.pop(n) for n in THREAD_VARIABLES if n in os.environ}
    X, args.grid, args.params, pairs = digits(), [2, 4, 8, 16], {}, 3
    if args.quick:
        X, args.grid, pairs = X[:360], [2, 4], 2
        args.params = {"hidden_layer_sizes": (16,), "max_iter": 3}
    args.shape, n_cpus = X.shape, joblib.cpu_count()
    for key in args.settings.split(","):
        name, parent, inner = SETTINGS[key.strip()]
        parent, loky = parent or n_cpus, {"backend": "loky"}
        if inner != "loky":
            loky["inner_max_num_threads"] = inner or n_cpus
        harness.log(f"[{name}]")
        torch.set_num_threads(parent)
        # The case runs inside these contexts (scikit-learn passes the filters on to the workers).
        with threadpool_limits(parent), joblib.parallel_config(**loky), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for n_jobs in (1, N_JOBS):  # untimed: the workers' start-up (processes, imports)
                search(X, n_jobs, args.grid[:N_JOBS], {"hidden_layer_sizes": (4,), "max_iter": 1})
            # The same reusable executor as the searches', so these are the fits' processes.
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
        rows.append([*map(str, row), f"{min(ratios):.2f}-{max(ratios):.2f}"])
    params = ", ".join(f"{k}={v!r}" for k, v in args.params.items()) or "defaults"
    inherited = ", ".join(f"{k}={v}" for k, v in args.inherited.items()) or "none were set"
    header = "setting | backend | torch threads, parent | torch threads, loky worker | threads "
    header += f"busy at n_jobs={N_JOBS} | n_jobs=1 s | n_jobs={N_JOBS} s | ratio (median) | ratio "
    return [
        f"- search: GridSearchCV(Pipeline([StandardScaler(), AutoencoderTransformer({params}, "
        f"random_state=0)]), n_components {args.grid}, cv=3, refit=False) on digits "
        f"{args.shape}; n_jobs=1 against n_jobs={N_JOBS}, {len(records[0]['runs'])} interleaved "
        f"pairs\n- os.cpu_count() {os.cpu_count()}, joblib.cpu_count() {joblib.cpu_count()}; "
        f"joblib {joblib.__version__}\n- thread variables removed from the environment at "
        f"start-up: {inherited}\n- times: wall seconds per whole search, median over pairs. "
        f"Ratio: n_jobs=1 time / n_jobs={N_JOBS} time within a pair, median over pairs; > 1: "
        "the parallel search is faster.",
        harness.Table("searches", None, header + "min-max", rows),
    ]


OPTIONS = {"--pairs": {"type": int, "help": "A B pairs per setting (default 3; 2 quick)"}}
OPTIONS["--settings"] = {"default": "1,2,3", "help": "a subset of the settings: 1,3"}
QUICK = "smoke run: 360 rows, grid {2, 4}, a tiny network, 2 pairs; numbers meaningless"
harness.declare(__name__, cases, report, OPTIONS, threads=None, quick=QUICK)
