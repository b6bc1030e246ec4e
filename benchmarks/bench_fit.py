"""Training throughput of sklearn_ae against a hand-written PyTorch loop, skorch and sklearn.

What it measures
----------------
Samples per second of training (samples processed / wall time over a fixed
number of epochs) of the same network, a D-128-64-8 encoder with a mirrored
decoder, ReLU, Adam (lr 1e-3), batch 256, a squared-error loss, on digits / 16
(1797 x 64) and on 60,000 8x8x3 patches of scikit-learn's two sample images
(``_datasets.patches``, 60,000 x 192). The work per block is the issue's (#19)
"matched work": 30 epochs of digits, 3 of the patches, no validation split.

Variants, each reported as a ratio of samples/s to (a) on the same workload:

(a) the reference loop of ``_harness.hand_written_loop``: one float32 tensor,
    ``torch.randperm`` per epoch, index batches, no per-batch ``.item()``,
    ``torch.optim.Adam(fused=True)`` (what the estimators use on CPU and CUDA);
(b) ``sklearn_ae.AutoencoderTransformer.fit`` (validation, standardization
    and model construction count as its overhead);
(c) skorch ``NeuralNetRegressor`` fitted X -> X with its default DataLoader
    (per-sample ``__getitem__`` + collation), shuffled like the others;
(c2) the same skorch net with an ``iterator_train`` that draws each batch with
    one index operation;
(d) scikit-learn ``MLPRegressor`` with hidden layers (128, 64, 8, 64, 128);
(e) ``sklearn_ae.VAETransformer`` against (e0), the reference loop's VAE
    (Gaussian likelihood with learned per-feature noise variance, analytic KL);
(f) the reference with Adam's default kernel (``f1``, unfused: what a
    hand-written loop usually has) and with ``foreach=True`` (``f2``), and
    ``torch.compile`` of the fused reference's training step (``f3``, digits
    only, since the compile cost is paid per process).

The ``(b)``/``(e)`` fits also report their training loop alone, timed from
outside the package with ``sklearn_ae._training.on_epoch``, whose callback the
fit calls for the starting weights (epoch 0, before the first step) and after
every epoch: the clocks stamped there cover the loop and nothing of ``fit``'s
set-up (validation, standardization statistics and the linear start, the copy
of X to a tensor). "All epochs" runs from the epoch-0 stamp to the last;
"epochs 2+" from the end of epoch 1 to the last, the span that the figures
published before ``on_epoch`` existed could measure. With three epochs per
block (``patches``) the fixed cost weighs far more than in a real 200-epoch
fit, which is why both rows are there.

It also times a one-row ``transform`` (the online-inference case) of
``AutoencoderTransformer`` against ``PCA(8)`` and against the bare torch encoder:
each call alone, median over every call of every round, by wall time and by
the thread's CPU time.

Method
------
CPU speed on shared machines drifts by tens of percent over minutes, so
absolute numbers from separate runs are not comparable. All variants run in
one process, interleaved in short blocks (a b c ... a b c ...) for several
rounds, plus a last round of the references alone; each variant's ratio is its
samples/s over the geometric mean of the two reference blocks around it (the
one opening its round and the one opening the next), and the median over
rounds is reported, by wall time and by process CPU time. Every variant runs
once, untimed, before the first round (allocator, kernel selection, imports);
a variant that fails is reported as failed. All variants get the same float32
array.
``make bench`` runs it (``ARGS="--threads 2"``, ``ARGS="--quick"``: a smoke run).
"""

import math
import warnings
from functools import partial

import _harness as harness
import numpy as np
import torch
from _datasets import digits, patches
from _harness import BATCH_SIZE, HIDDEN, LEARNING_RATE, N_COMPONENTS, hand_written_loop
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor

from sklearn_ae import AutoencoderTransformer, VAETransformer
from sklearn_ae._training import on_epoch

try:
    from skorch import NeuralNetRegressor
except ImportError:
    NeuralNetRegressor = None

BASELINE = "(a) hand-written torch loop, fused Adam"
VAE_BASELINE = "(e0) hand-written torch VAE loop, fused Adam"
COMPILED = "(f3) (a) + torch.compile(step)"
PCA_CALL = "PCA(8).transform (float64 row)"
# The loop-only rows of the sklearn_ae fits: (label, note) by key of the measurement.
LOOPS = {
    "loop2": ("training loop only (epochs 2+)", "excludes fit's set-up and epoch 1"),
    "loop": ("training loop only (all epochs)", "excludes fit's set-up"),
}
# Per workload: data, rounds and epochs per block. Three epochs of patches per block: a
# fit's one-off set-up (validation, statistics, one float32 copy of X) weighs as in a short
# fit, not as a third of the block; the loop-only rows show the loop. --quick keeps two
# epochs, the fewest that time an "epochs 2+" row.
WORKLOADS = {
    "digits": (lambda quick: digits().astype(np.float32), 9, 30),
    "patches": (lambda quick: patches(2_000 if quick else 30_000), 7, 3),
}


def ours(estimator_class, X, holder):
    """(b) / (e): the estimator's fit; the clocks stamped by ``on_epoch`` time its loop."""
    params = {"n_components": N_COMPONENTS, "hidden_layer_sizes": HIDDEN, "tol": 0}
    # Throughput of the loop over all of X, as the hand-written loops do.
    params.update(batch_size=BATCH_SIZE, early_stopping=False, device="cpu", random_state=0)

    def run(epochs):
        est, stamps = estimator_class(max_iter=epochs, **params), {}
        stamp = on_epoch(lambda _, result: stamps.update({result.epoch: harness.clocks()}))
        with warnings.catch_warnings(), stamp:
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X)
        holder["estimator"], n, last = est, len(X), est.n_iter_
        if sorted(stamps) != list(range(last + 1)):
            raise RuntimeError(f"on_epoch saw epochs {sorted(stamps)} of a {last}-epoch fit")
        # Epoch 0 is stamped before the first step, epoch k after the k-th epoch.
        spans = {"loop": (last, stamps[0])}
        if last > 1:
            spans["loop2"] = (last - 1, stamps[1])
        end = stamps[last]
        return n * last, {
            key: [n * e / (b - a) for a, b in zip(start, end)] for key, (e, start) in spans.items()
        }

    return run


class IndexBatches:
    """A skorch ``iterator_train`` whose batches are one index op into a tensor each."""

    def __init__(self, dataset, batch_size, shuffle=True):
        self.X, self.y = torch.as_tensor(dataset.X), torch.as_tensor(dataset.y)
        self.batch_size, self.shuffle = batch_size, shuffle

    def __len__(self):
        return math.ceil(len(self.X) / self.batch_size)

    def __iter__(self):
        order = torch.randperm(len(self.X)) if self.shuffle else torch.arange(len(self.X))
        for start in range(0, len(self.X), self.batch_size):
            rows = order[start : start + self.batch_size]
            yield self.X[rows], self.y[rows]


def skorch_net(X, *, index_batches=False):
    # skorch does not shuffle by default; the other variants all do.
    params = {"iterator_train__shuffle": True, "train_split": None, "device": "cpu"}
    params.update(criterion=torch.nn.MSELoss, optimizer=torch.optim.Adam, lr=LEARNING_RATE)
    params.update({"iterator_train": IndexBatches} if index_batches else {})

    def run(epochs):
        torch.manual_seed(0)
        net = NeuralNetRegressor(harness.AE, module__n_features=X.shape[1], **params)
        net.set_params(max_epochs=epochs, batch_size=BATCH_SIZE, verbose=0).fit(X, X)
        return len(net.history) * X.shape[0]

    return run


def mlp_regressor(X):
    layers = (*HIDDEN, N_COMPONENTS, *HIDDEN[::-1])

    def run(epochs):
        est = MLPRegressor(hidden_layer_sizes=layers, learning_rate_init=LEARNING_RATE, tol=0)
        est.set_params(solver="adam", batch_size=BATCH_SIZE, max_iter=epochs, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, X)
        return est.n_iter_ * X.shape[0]

    return run


def block(factory, epochs):
    """A variant: its first call (the warm-up) builds it; each call times one block, in
    samples/s by wall and CPU time, with the loop-only rates of sklearn_ae's fits."""
    built = []

    def measure():
        built[:] = built or [factory()]
        result, seconds = harness.timed(built[0], epochs)
        samples, loops = result if isinstance(result, tuple) else (result, {})
        return {"rate": [samples / s for s in seconds], **loops}

    return measure


def cases(args):
    for name in list(WORKLOADS) if args.workload == "all" else [args.workload]:
        data, rounds, epochs = WORKLOADS[name]
        X, epochs, holder = data(args.quick), 2 if args.quick else epochs, {}
        harness.log(f"[{name}] X {X.shape}, {epochs} epoch(s) per block")
        loop = partial(hand_written_loop, X)
        factories = {
            BASELINE: loop,
            "(b) sklearn_ae AutoencoderTransformer": partial(
                ours, AutoencoderTransformer, X, holder
            ),
            "(c) skorch, default DataLoader": partial(skorch_net, X),
            "(c2) skorch, index-batch iterator": partial(skorch_net, X, index_batches=True),
            "(d) sklearn MLPRegressor": partial(mlp_regressor, X),
            VAE_BASELINE: partial(loop, vae=True),
            "(e) sklearn_ae VAETransformer": partial(ours, VAETransformer, X, {}),
            "(f1) (a) with Adam's default (unfused) kernel": partial(loop, adam_kwargs={}),
            "(f2) (a) with Adam foreach=True": partial(loop, adam_kwargs={"foreach": True}),
            COMPILED: partial(loop, compile_step=True),
        }
        variants = {key: block(factory, epochs) for key, factory in factories.items()}
        if NeuralNetRegressor is None:
            variants = {k if "(c)" not in k else "(c) skorch": v for k, v in variants.items()}
            variants["(c) skorch"] = "skipped: skorch not installed"
            del variants["(c2) skorch, index-batch iterator"]
        limit = 0 if args.quick or name != "digits" else args.compile_timeout
        if not limit:  # the compile cost is paid per process: digits only
            variants[COMPILED] = "not attempted on this workload"
        yield harness.Case(
            {"workload": name, "kind": "fit"},
            variants,
            rounds=args.rounds or (2 if args.quick else rounds),
            bracket=(BASELINE, VAE_BASELINE),
            warm_up=True,
            time_limits={COMPILED: limit},
            tolerate=True,
        )
        if "estimator" in holder:
            yield latency_case(name, X, holder["estimator"], args.quick)


def latency_case(name, X, estimator, quick):
    """One-row ``transform`` calls, each timed alone (wall and the thread's CPU time)."""
    X64, n_rows = X.astype(np.float64), min(256, len(X))
    pca = PCA(N_COMPONENTS).fit(X64)
    rows64 = [X64[i : i + 1] for i in range(n_rows)]
    rows32 = [torch.from_numpy(X[i : i + 1].copy()) for i in range(n_rows)]

    def bare(i):
        with torch.inference_mode():
            estimator.encoder_(rows32[i])

    def calls(fn, n=50 if quick else 200):
        def measure():
            seconds = harness.repeat(lambda k: fn(k % n_rows), n, thread=True)
            return {"us": [[1e6 * t for t in pair] for pair in seconds]}

        return measure

    variants = {
        "sklearn_ae AutoencoderTransformer.transform (float64 row)": calls(
            lambda i: estimator.transform(rows64[i])
        ),
        PCA_CALL: calls(lambda i: pca.transform(rows64[i])),
        "bare torch encoder, inference_mode (float32 tensor)": calls(bare),
    }
    params = {"workload": name, "kind": "latency"}
    return harness.Case(params, variants, rounds=2 if quick else 10, warm_up=True)


def _ratios(rates, references, vs, note):
    """Medians (wall, CPU) of the bracketed ratios, and the range of the wall ones."""
    ratios = [harness.bracketed([x[k] for x in rates], [x[k] for x in references]) for k in (0, 1)]
    spread = f"{min(ratios[0]):.2f}-{max(ratios[0]):.2f}" + (f"; {note}" if note else "")
    return [*(f"{harness.median(p):.2f}{vs}" for p in ratios), spread]


def fit_rows(records):
    """The throughput table's rows of one workload."""
    by_name, rows = {r["variant"]: r for r in records}, []
    for r in records:
        name, runs = r["variant"], r["runs"]
        if r["error"] or not runs:
            rows.append([r["workload"], name, r["error"] or "no data", "", "", ""])
            continue
        rate = f"{harness.median(m['rate'][0] for m in runs):,.0f}"
        reference = by_name[VAE_BASELINE if name.startswith("(e)") else BASELINE]
        if name in (BASELINE, VAE_BASELINE):
            rows.append([r["workload"], name, rate, "1.00", "1.00", "reference"])
        elif reference["error"] or len(reference["runs"]) != len(runs) + 1:
            rows.append([r["workload"], name, rate, "n/a (reference failed)", "", ""])
        else:
            vs = "" if reference["variant"] == BASELINE else " (vs (e0))"
            references = [m["rate"] for m in reference["runs"]]
            note = f"set-up + warm-up {r['warm_up_s']:.1f} s" if name == COMPILED else ""
            cells = _ratios([m["rate"] for m in runs], references, vs, note)
            rows.append([r["workload"], name, rate, *cells])
            for key, (label, why) in LOOPS.items():
                loops = [m[key] for m in runs if key in m]
                if loops and len(loops) == len(runs):
                    rate = f"{harness.median(x[0] for x in loops):,.0f}"
                    label = f"{name.split(' ')[0]} same fits, {label}"
                    rows.append([r["workload"], label, rate, *_ratios(loops, references, vs, why)])
    return rows


def latency_rows(records):
    """The latency table's rows of one workload: medians over every call of every round."""
    rows, (w_pca, c_pca) = [], _medians(next(r for r in records if r["variant"] == PCA_CALL))
    for r in records:
        w, c = _medians(r)
        rows.append([r["workload"], r["variant"], f"{w:.1f}", f"{w / w_pca:.2f}", f"{c:.1f}"])
        rows[-1].append(f"{c / c_pca:.2f}")
    return rows


def _medians(record):
    return [harness.median(us[k] for run in record["runs"] for us in run["us"]) for k in (0, 1)]


def report(records, args):
    groups = {}
    for r in records:
        groups.setdefault((r["kind"], r["workload"]), []).append(r)
    fits = [row for (kind, _), rs in groups.items() if kind == "fit" for row in fit_rows(rs)]
    latency = [row for (k, _), rs in groups.items() if k == "latency" for row in latency_rows(rs)]
    return [
        "- samples/s: wall clock, median over rounds. Ratio: median over rounds of the variant's "
        "samples/s over the geometric mean of the reference blocks around it; > 1 is faster. "
        "'By CPU time': the same ratio from process CPU time, which a busy machine inflates "
        "far less than wall time." + " skorch is not installed." * (NeuralNetRegressor is None),
        harness.Table(
            "throughput",
            "Training throughput",
            "workload | variant | samples/s | ratio to hand-written loop | same, by CPU time"
            " | wall ratio min-max; notes",
            fits,
        ),
        harness.Table(
            "latency",
            "One-row transform latency",
            "workload | call | median µs per call | ratio to PCA | median µs, thread CPU time"
            " | ratio to PCA, CPU time",
            latency,
        ),
    ]


def options(parser):
    parser.add_argument("--workload", choices=["digits", "patches", "all"], default="all")
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads")
    parser.add_argument("--rounds", type=int, help="rounds per workload (default 9 / 7)")
    parser.add_argument("--compile-timeout", type=float, default=180.0, help="0 skips it")


QUICK = "smoke run: tiny data, 2 rounds, no compile; numbers meaningless"
BENCHMARK = harness.Benchmark(
    __file__, __doc__, cases, report, options, threads=lambda args: args.threads, quick=QUICK
)

if __name__ == "__main__":
    harness.main(BENCHMARK)
