"""Training throughput of sklearn_ae against a hand-written PyTorch loop, skorch and sklearn.

Samples/s of the same D-128-64-8 network on digits and 60,000 sample-image patches, at issue
#19's matched work per block, each as a ratio to (a), :func:`hand_written_loop`: (b) the
AE's ``fit``, set-up included; (c, c2) skorch; (d) ``MLPRegressor``; (e) the VAE against the
reference's VAE (e0); (f) other Adam kernels and ``torch.compile`` (digits only: paid per
process). (b) and (e) also report their training loop alone, from the clocks
``sklearn_ae._training.on_epoch`` stamps ("epochs 2+": what earlier figures measured), since
a short block weighs the fixed cost far more than a real fit. One-row ``transform`` calls are
timed alone against ``PCA(8)`` and the bare encoder. Variants run interleaved in one process on
one float32 array, after an untimed warm-up call; ratios are over the reference blocks around
each (``bracketed``), median over rounds, by wall and by CPU time.
"""

import math
from functools import cache, partial
from itertools import groupby

import _harness as harness
import numpy as np
import torch
from _datasets import digits, patches
from sklearn.decomposition import PCA
from sklearn.neural_network import MLPRegressor
from torch import nn

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
AE_CALL = "sklearn_ae AutoencoderTransformer.transform (float64 row)"
LOOPS = {
    "loop2": ("training loop only (epochs 2+)", "excludes fit's set-up and epoch 1"),
    "loop": ("training loop only (all epochs)", "excludes fit's set-up"),
}
# Per workload: data, rounds, epochs per block. Three epochs of patches: a fit's one-off set-up
# weighs as in a short fit, not as a third of the block. --quick: 2, the fewest for "epochs 2+".
WORKLOADS = {
    "digits": (lambda quick: digits().astype(np.float32), 9, 30),
    "patches": (lambda quick: patches(2_000 if quick else 30_000), 7, 3),
}
N_COMPONENTS, HIDDEN, BATCH_SIZE, LEARNING_RATE = 8, (128, 64), 256, 1e-3


class AE(nn.Module):
    """The D-128-64-8 network with a mirrored decoder; ``vae`` makes it the VAE twin, a
    Gaussian likelihood with learned per-feature noise variance and an analytic KL."""

    def __init__(self, n_features, n_components=N_COMPONENTS, hidden=HIDDEN, vae=False):
        super().__init__()

        def mlp(sizes):  # Linear layers with a ReLU between each two
            layers = [m for a, b in zip(sizes, sizes[1:]) for m in (nn.ReLU(), nn.Linear(a, b))]
            return nn.Sequential(*layers[1:])

        self.n_components = n_components
        self.encoder = mlp([n_features, *hidden, (1 + vae) * n_components])
        self.decoder = mlp([n_components, *hidden[::-1], n_features])
        if vae:
            self.log_noise_var = nn.Parameter(torch.zeros(n_features))

    def forward(self, x):
        return self.decoder(self.encoder(x))

    def vae_loss(self, xb, generator):
        mu, log_var = self.encoder(xb).split(self.n_components, dim=1)
        z = mu + torch.randn(mu.shape, generator=generator) * torch.exp(0.5 * log_var)
        # The floor keeps the density proper on constant features (digits' border pixels).
        var = 1e-6 + torch.exp(self.log_noise_var)
        nll = 0.5 * (math.log(2 * math.pi) + torch.log(var) + (xb - self.decoder(z)) ** 2 / var)
        kl = 0.5 * (torch.exp(log_var) + mu**2 - 1.0 - log_var).sum(-1)
        return (nll.sum(-1) + kl).mean()


def hand_written_loop(X, *, vae=False, adam_kwargs=None, compile_step=False):
    """``run(epochs) -> samples`` on float32 ``X``: one tensor, ``randperm`` per epoch, index
    batches, no per-batch ``.item()``, ``Adam(fused=True)`` as the estimators use (or
    ``adam_kwargs``); the model persists across calls, so a compiled step is paid once."""
    torch.manual_seed(0)
    model = AE(X.shape[1], vae=vae)
    kwargs = {"fused": True} if adam_kwargs is None else adam_kwargs
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, **kwargs)
    generator, Xt = torch.Generator().manual_seed(0), torch.from_numpy(X)

    def step(xb):
        loss = model.vae_loss(xb, generator) if vae else nn.functional.mse_loss(model(xb), xb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    if compile_step:
        # Static shapes: the shorter last batch gets its own graph (dynamic ones measured slower).
        step = torch.compile(step, dynamic=False)

    def run(epochs):
        for _ in range(epochs):
            order = torch.randperm(len(Xt), generator=generator)
            for start in range(0, len(Xt), BATCH_SIZE):
                step(Xt[order[start : start + BATCH_SIZE]])
        return len(Xt) * epochs

    return run


def ours(estimator_class, X, holder):
    """(b) / (e): the estimator's fit; the clocks stamped by ``on_epoch`` time its loop."""
    # Throughput of the loop over all of X, as the hand-written loops do.
    params = {"n_components": N_COMPONENTS, "hidden_layer_sizes": HIDDEN, "tol": 0}
    params.update(batch_size=BATCH_SIZE, early_stopping=False, device="cpu", random_state=0)

    def run(epochs):
        est, stamps = estimator_class(max_iter=epochs, **params), {}
        with on_epoch(lambda _, result: stamps.update({result.epoch: harness.clocks()})):
            harness.recorded_fit(est, X)
        holder["estimator"], n, last = est, len(X), est.n_iter_
        if sorted(stamps) != list(range(last + 1)):
            raise RuntimeError(f"on_epoch saw epochs {sorted(stamps)} of a {last}-epoch fit")
        # Epoch 0 is stamped before the first step, epoch k after the k-th ("loop2": epochs 2+).
        spans = [(k, e, stamps[last - e]) for k, e in (("loop", last), ("loop2", last - 1)) if e]
        end = stamps[last]
        return n * last, {k: [n * e / (b - a) for a, b in zip(t, end)] for k, e, t in spans}

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


def skorch_net(X, **iterator):
    # skorch does not shuffle by default; the other variants all do.
    params = {"iterator_train__shuffle": True, "train_split": None, "device": "cpu", **iterator}
    params.update(criterion=torch.nn.MSELoss, optimizer=torch.optim.Adam, lr=LEARNING_RATE)

    def run(epochs):
        torch.manual_seed(0)
        net = NeuralNetRegressor(AE, module__n_features=X.shape[1], **params)
        net.set_params(max_epochs=epochs, batch_size=BATCH_SIZE, verbose=0).fit(X, X)
        return len(net.history) * X.shape[0]

    return run


def mlp_regressor(X):
    def run(epochs):
        layers = (*HIDDEN, N_COMPONENTS, *HIDDEN[::-1])
        est = MLPRegressor(hidden_layer_sizes=layers, learning_rate_init=LEARNING_RATE, tol=0)
        est.set_params(solver="adam", batch_size=BATCH_SIZE, max_iter=epochs, random_state=0)
        harness.recorded_fit(est, X, X)
        return est.n_iter_ * X.shape[0]

    return run


def block(factory, epochs):
    """A variant, built by its first call (the warm-up): samples/s of a block, wall and CPU."""
    build = cache(factory)

    def measure():
        result, seconds = harness.timed(build(), epochs)
        samples, loops = result if isinstance(result, tuple) else (result, {})
        return {"rate": [samples / s for s in seconds], **loops}

    return measure


def cases(args):
    for name in list(WORKLOADS) if args.workload == "all" else [args.workload]:
        data, rounds, epochs = WORKLOADS[name]
        X, epochs, holder = data(args.quick), 2 if args.quick else epochs, {}
        harness.log(f"[{name}] X {X.shape}, {epochs} epoch(s) per block")
        loop, skorch = partial(hand_written_loop, X), NeuralNetRegressor is not None
        ae_fit = partial(ours, AutoencoderTransformer, X, holder)
        index_batches = partial(skorch_net, X, iterator_train=IndexBatches)
        factories = {
            BASELINE: loop,
            "(b) sklearn_ae AutoencoderTransformer": ae_fit,
            "(c) skorch, default DataLoader" if skorch else "(c) skorch": partial(skorch_net, X),
            "(c2) skorch, index-batch iterator": index_batches,
            "(d) sklearn MLPRegressor": partial(mlp_regressor, X),
            VAE_BASELINE: partial(loop, vae=True),
            "(e) sklearn_ae VAETransformer": partial(ours, VAETransformer, X, {}),
            "(f1) (a) with Adam's default (unfused) kernel": partial(loop, adam_kwargs={}),
            "(f2) (a) with Adam foreach=True": partial(loop, adam_kwargs={"foreach": True}),
            COMPILED: partial(loop, compile_step=True),
        }
        variants = {key: block(factory, epochs) for key, factory in factories.items()}
        if not skorch:
            variants["(c) skorch"] = "skipped: skorch not installed"
            del variants["(c2) skorch, index-batch iterator"]
        limit = 0 if args.quick or name != "digits" else args.compile_timeout
        if not limit:  # the compile cost is paid per process: digits only
            variants[COMPILED] = "not attempted on this workload"
        rounds, limits = args.rounds or (2 if args.quick else rounds), {COMPILED: limit}
        case = harness.Case({"workload": name, "kind": "fit"}, variants, rounds, warm_up=True)
        case.bracket, case.time_limits, case.tolerate = (BASELINE, VAE_BASELINE), limits, True
        yield case
        if "estimator" in holder:
            yield latency_case(name, X, holder["estimator"], args.quick)


def latency_case(name, X, estimator, quick):
    """One-row ``transform`` calls, each timed alone (wall and the thread's CPU time)."""
    X64, n_rows, n_calls = X.astype(np.float64), min(256, len(X)), 50 if quick else 200
    pca = PCA(N_COMPONENTS).fit(X64)
    rows64 = [X64[i : i + 1] for i in range(n_rows)]
    rows32 = [torch.from_numpy(X[i : i + 1].copy()) for i in range(n_rows)]

    def bare(row):
        with torch.inference_mode():
            estimator.encoder_(row)

    def calls(fn, rows):
        repeat = partial(harness.repeat, lambda k: fn(rows[k % n_rows]), n_calls, thread=True)
        return lambda: {"us": [[1e6 * t for t in pair] for pair in repeat()]}

    variants = {AE_CALL: calls(estimator.transform, rows64)}
    variants[PCA_CALL] = calls(pca.transform, rows64)
    variants["bare torch encoder, inference_mode (float32 tensor)"] = calls(bare, rows32)
    params = {"workload": name, "kind": "latency"}
    return harness.Case(params, variants, rounds=2 if quick else 10, warm_up=True)


def _ratios(rates, references, vs, note):
    """Medians (wall, CPU) of the bracketed ratios, and the range of the wall ones."""
    ratios = [harness.bracketed([x[k] for x in rates], [x[k] for x in references]) for k in (0, 1)]
    spread = f"{min(ratios[0]):.2f}-{max(ratios[0]):.2f}" + (f"; {note}" if note else "")
    return [*(f"{harness.median(p):.2f}{vs}" for p in ratios), spread]


def fit_rows(records):
    by_name, rows = {r["variant"]: r for r in records}, []
    for r in records:
        name, runs, row = r["variant"], r["runs"], [r["workload"], r["variant"]]
        if r["error"] or not runs:
            rows.append([*row, r["error"] or "no data", "", "", ""])
            continue
        rate = f"{harness.median(m['rate'][0] for m in runs):,.0f}"
        reference = by_name[VAE_BASELINE if name.startswith("(e)") else BASELINE]
        if name in (BASELINE, VAE_BASELINE):
            rows.append([*row, rate, "1.00", "1.00", "reference"])
        elif reference["error"] or len(reference["runs"]) != len(runs) + 1:
            rows.append([*row, rate, "n/a (reference failed)", "", ""])
        else:
            vs = "" if reference["variant"] == BASELINE else " (vs (e0))"
            references = [m["rate"] for m in reference["runs"]]
            note = f"set-up + warm-up {r['warm_up_s']:.1f} s" if name == COMPILED else ""
            rows.append([*row, rate, *_ratios([m["rate"] for m in runs], references, vs, note)])
            for key, (label, why) in LOOPS.items():
                if len(loops := [m[key] for m in runs if key in m]) == len(runs):
                    rate = f"{harness.median(x[0] for x in loops):,.0f}"
                    label = f"{name.split(' ')[0]} same fits, {label}"
                    rows.append([r["workload"], label, rate, *_ratios(loops, references, vs, why)])
    return rows


def latency_rows(records):
    """The latency table's rows of one workload: medians over every call of every round."""
    median = lambda r, k: harness.median(us[k] for run in r["runs"] for us in run["us"])  # noqa: E731
    pca = next(r for r in records if r["variant"] == PCA_CALL)
    w_pca, c_pca = median(pca, 0), median(pca, 1)
    cells = lambda w, c: [f"{w:.1f}", f"{w / w_pca:.2f}", f"{c:.1f}", f"{c / c_pca:.2f}"]  # noqa: E731
    return [[r["workload"], r["variant"], *cells(median(r, 0), median(r, 1))] for r in records]


def report(records, args):
    rows = {"fit": [], "latency": []}
    for (kind, _), group in groupby(records, lambda r: (r["kind"], r["workload"])):
        rows[kind] += (fit_rows if kind == "fit" else latency_rows)(list(group))
    fit = "workload | variant | samples/s | ratio to hand-written loop | same, by CPU time | wall"
    fit += " ratio min-max; notes"
    latency = "workload | call | median µs per call | ratio to PCA | median µs, thread CPU time"
    latency += " | ratio to PCA, CPU time"
    return [
        "- samples/s: wall clock, median over rounds. Ratio: median over rounds of the variant's "
        "samples/s over the geometric mean of the reference blocks around it; > 1 is faster. "
        "'By CPU time': the same ratio from process CPU time, which a busy machine inflates "
        "far less than wall time." + " skorch is not installed." * (NeuralNetRegressor is None),
        harness.Table("throughput", "Training throughput", fit, rows["fit"]),
        harness.Table("latency", "One-row transform latency", latency, rows["latency"]),
    ]


def options(parser):
    parser.add_argument("--workload", choices=["digits", "patches", "all"], default="all")
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads")
    parser.add_argument("--rounds", type=int, help="rounds per workload (default 9 / 7)")
    parser.add_argument("--compile-timeout", type=float, default=180.0, help="0 skips it")


QUICK = "smoke run: tiny data, 2 rounds, no compile; numbers meaningless"
harness.declare(__name__, cases, report, options, threads=lambda args: args.threads, quick=QUICK)
