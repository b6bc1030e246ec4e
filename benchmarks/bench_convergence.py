"""Which default fits on digits reach ``max_iter`` (a ``ConvergenceWarning``).

Default ``AutoencoderTransformer(d)`` and ``VAETransformer(d)``, d in 2 to 32, per seed, on
the digits training split (``train``), all rows (``all``) and the split without its constant
columns (``varying``): epochs run, epoch kept (0: the linear start), whether it warned.
"""

import _harness as harness
from _datasets import digits, split
from sklearn.feature_selection import VarianceThreshold

from sklearn_ae import AutoencoderTransformer, VAETransformer

DATA = {"train": lambda: split(digits())[0], "all": digits}
DATA["varying"] = lambda: VarianceThreshold().fit_transform(split(digits())[0])


def fit(cls, d, seed, X):
    (seconds, _), warned = harness.recorded_fit(est := cls(n_components=d, random_state=seed), X)
    return {"epochs": est.n_iter_, "kept epoch": est.best_epoch_, "s": seconds, "warned": warned}


def cases(args):
    classes = (AutoencoderTransformer, VAETransformer)
    for name, cls in [(n, c) for n in args.data for c in classes]:
        X = DATA[name]()
        for d, seed in [(d, int(s)) for d in (2, 4, 8, 16, 32) for s in args.seeds.split(",")]:
            params = {"data": name, "estimator": cls.__name__, "d": d, "seed": seed}
            yield harness.Case(params, {"fit": lambda: fit(cls, d, seed, X)})


def report(records, args):
    fits = [{**r, **r["runs"][0]} for r in records]
    columns = "data | estimator | d | seed | epochs | kept epoch | s=s:.1f | warned=warned:yes"
    warned = f"{sum(f['warned'] for f in fits)} of {len(fits)} default fits warned"
    return [harness.table("fits", None, fits, columns), f"{warned} (ConvergenceWarning)."]


OPTIONS = {"--seeds": "0,1,2"}
OPTIONS["--data"] = {"nargs": "+", "choices": list(DATA), "default": list(DATA)}
harness.declare(__name__, cases, report, OPTIONS)
