"""Which default fits on digits reach ``max_iter`` (a ``ConvergenceWarning``).

``AutoencoderTransformer(n_components=d)`` and ``VAETransformer(n_components=d)``
with default parameters and ``random_state`` in ``--seeds`` (default 0, 1, 2),
for d in 2, 4, 8, 16, 32, fitted on digits / 16 three ways: the 70% training
split (``train``), all 1,797 rows (``all``), and the training split without
its constant columns (``VarianceThreshold()``, ``varying``). Each row gives
the epochs run (``n_iter_``), the epoch kept (``best_epoch_``; 0 is the linear
start) and whether the fit warned. One torch/BLAS thread. The last line
counts the fits that warned.
"""

import warnings

import _harness as harness
from _datasets import digits, split
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_selection import VarianceThreshold

from sklearn_ae import AutoencoderTransformer, VAETransformer

DATA = {
    "train": lambda: split(digits())[0],
    "all": digits,
    "varying": lambda: VarianceThreshold().fit_transform(split(digits())[0]),
}


def fit(cls, d, seed, X):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est, (seconds, _) = harness.timed(cls(n_components=d, random_state=seed).fit, X)
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return {"epochs": est.n_iter_, "kept epoch": est.best_epoch_, "s": seconds, "warned": warned}


def cases(args):
    for name, cls in [
        (name, cls) for name in args.data for cls in (AutoencoderTransformer, VAETransformer)
    ]:
        X = DATA[name]()
        for d, seed in [(d, int(s)) for d in (2, 4, 8, 16, 32) for s in args.seeds.split(",")]:
            params = {"data": name, "estimator": cls.__name__, "d": d, "seed": seed}
            yield harness.Case(params, {"fit": lambda: fit(cls, d, seed, X)})


def report(records, args):
    fits = [{**r, **r["runs"][0]} for r in records]
    columns = "data | estimator | d | seed | epochs | kept epoch | s=s:.1f | warned=warned:yes"
    warned = f"{sum(f['warned'] for f in fits)} of {len(fits)} default fits warned"
    return [harness.table("fits", None, fits, columns), f"{warned} (ConvergenceWarning)."]


def options(parser):
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--data", nargs="+", choices=list(DATA), default=list(DATA))


BENCHMARK = harness.Benchmark(__file__, __doc__, cases, report, options)

if __name__ == "__main__":
    harness.main(BENCHMARK)
