"""Training throughput of sklearn_ae against a hand-written PyTorch loop, skorch and sklearn.

What it measures
----------------
Samples per second of training (samples processed / wall time over a fixed
number of epochs) of the same network, a D-128-64-8 encoder with a mirrored
decoder, ReLU, Adam (lr 1e-3), batch 256, a squared-error loss, on two
workloads that need no download:

* ``digits``: scikit-learn's ``load_digits`` scaled to [0, 1] (1797 x 64);
* ``patches``: 8x8x3 patches of the two scikit-learn sample images (china,
  flower; ``extract_patches_2d``, 30,000 per image, fixed seed) scaled to
  [0, 1] and flattened (60,000 x 192).

The work per block is the issue's (#19) "matched work": 30 epochs of digits,
3 epochs of the 60,000 patches, batch 256, no validation split.

Variants, each reported as a ratio of samples/s to (a) on the same workload:

(a) a minimal hand-written torch loop (the baseline): one float32 tensor,
    ``torch.randperm`` per epoch, index batches, no per-batch ``.item()``,
    ``torch.optim.Adam(fused=True)`` (what the estimators use on CPU and CUDA);
(b) ``sklearn_ae.AutoencoderTransformer.fit`` (validation, standardization
    and model construction count as its overhead);
(c) skorch ``NeuralNetRegressor`` fitted X -> X with its default DataLoader
    (per-sample ``__getitem__`` + collation), shuffled like the others;
(c2) the same skorch net with an ``iterator_train`` that draws each batch with
    one index operation;
(d) scikit-learn ``MLPRegressor`` with hidden layers (128, 64, 8, 64, 128);
(e) ``sklearn_ae.VAETransformer`` when it can be imported, against a
    hand-written VAE loop (Gaussian likelihood with learned per-feature noise
    variance, analytic KL);
(f) the baseline with Adam's default kernel (``f1``, unfused: what a
    hand-written loop usually has) and with ``foreach=True`` (``f2``), and
    ``torch.compile`` of the fused baseline's training step (``f3``, digits
    only, since the compile cost is paid per process).

The ``(b)``/``(e)`` fits also report their training loop alone, timed from
outside the package: with ``verbose=2`` each estimator prints one line per
epoch (its documented behaviour), so the benchmark sends stdout to a sink that
stamps the clocks at every line. The time from the first line to the last
covers epochs 2 to ``n_iter_``, and nothing of ``fit``'s set-up.

It also times a one-row ``transform`` (the online-inference case) of
``AutoencoderTransformer`` against ``PCA(8)`` and against the bare torch encoder.

Method
------
CPU speed on shared machines drifts by tens of percent over minutes, so
absolute numbers from separate runs are not comparable. All variants run in
one process, interleaved in short blocks (a b c ... a b c ...) for several
rounds; each variant's ratio is computed against the baseline block of the
*same* round, and the median over rounds is reported. Every variant runs once,
untimed, before the first round (allocator, kernel selection, imports). All
variants get the same float32 array.

Running it
----------
``make bench`` runs ``python benchmarks/bench_fit.py``; pass options with
``make bench ARGS="--threads 2"``. Options: ``--workload {digits,patches,all}``,
``--threads N`` (torch intra-op threads and the BLAS thread limit, default 1),
``--rounds R`` and ``--quick`` (a smoke run of a few seconds on reduced data,
numbers meaningless). The markdown printed is also written to
``benchmarks/results/latest.md``.
"""

import argparse
import io
import math
import os
import platform
import signal
import statistics
import sys
import time
import warnings
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import sklearn
import torch
from _report import cpu_model, git_revision, markdown_table, publish
from sklearn.datasets import load_digits, load_sample_images
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.image import extract_patches_2d
from sklearn.neural_network import MLPRegressor
from threadpoolctl import threadpool_info, threadpool_limits
from torch import nn
from torch.nn import functional as F

import sklearn_ae
from sklearn_ae import AutoencoderTransformer

try:
    from sklearn_ae import VAETransformer
except ImportError:
    VAETransformer = None

try:
    import skorch
    from skorch import NeuralNetRegressor
except ImportError:
    skorch = None

N_COMPONENTS = 8
HIDDEN = (128, 64)
BATCH_SIZE = 256
LEARNING_RATE = 1e-3
BASELINE = "(a) hand-written torch loop, fused Adam"
VAE_BASELINE = "(e0) hand-written torch VAE loop, fused Adam"
RESULTS = Path(__file__).resolve().parent / "results" / "latest.md"


# ----------------------------------------------------------------------------
# Data.


def digits_data():
    return (load_digits().data / 16.0).astype(np.float32)


def patches_data(max_patches):
    rng = np.random.RandomState(0)
    patches = [
        extract_patches_2d(image, (8, 8), max_patches=max_patches, random_state=rng)
        for image in load_sample_images().images
    ]
    patches = np.concatenate(patches)
    return (patches.reshape(len(patches), -1) / 255.0).astype(np.float32)


# ----------------------------------------------------------------------------
# Networks.


def mlp(sizes):
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i > 0:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


class AE(nn.Module):
    """The network every autoencoder variant trains; also skorch's ``module``."""

    def __init__(self, n_features, n_components=N_COMPONENTS, hidden=HIDDEN):
        super().__init__()
        self.encoder = mlp([n_features, *hidden, n_components])
        self.decoder = mlp([n_components, *hidden[::-1], n_features])

    def forward(self, x):
        return self.decoder(self.encoder(x))


class VAE(nn.Module):
    def __init__(self, n_features, n_components=N_COMPONENTS, hidden=HIDDEN):
        super().__init__()
        self.n_components = n_components
        self.encoder = mlp([n_features, *hidden, 2 * n_components])
        self.decoder = mlp([n_components, *hidden[::-1], n_features])
        self.log_noise_var = nn.Parameter(torch.zeros(n_features))


_LOG_2PI = math.log(2 * math.pi)


def vae_loss(model, xb, generator):
    h = model.encoder(xb)
    mu, log_var = h[:, : model.n_components], h[:, model.n_components :]
    z = mu + torch.randn(mu.shape, generator=generator) * torch.exp(0.5 * log_var)
    x_hat = model.decoder(z)
    # The floor keeps the density proper on constant features (e.g. digits' border pixels).
    var = 1e-6 + torch.exp(model.log_noise_var)
    nll = 0.5 * (_LOG_2PI + torch.log(var) + (xb - x_hat) ** 2 / var).sum(-1)
    kl = 0.5 * (torch.exp(log_var) + mu**2 - 1.0 - log_var).sum(-1)
    return (nll + kl).mean()


def ae_loss(model, xb, generator):
    return F.mse_loss(model(xb), xb)


# ----------------------------------------------------------------------------
# Variants. Each factory takes the data and returns ``run(epochs) -> samples processed``.


def hand_written(X, *, vae=False, adam_kwargs=None, compile_step=False):
    """The baseline loop; the model persists across blocks, so a compile is paid once.

    ``adam_kwargs`` None is the baseline's ``fused=True``.
    """
    if adam_kwargs is None:
        adam_kwargs = {"fused": True}
    torch.manual_seed(0)
    n_features = X.shape[1]
    model = VAE(n_features) if vae else AE(n_features)
    loss_fn = vae_loss if vae else ae_loss
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, **adam_kwargs)
    generator = torch.Generator().manual_seed(0)
    Xt = torch.from_numpy(X)

    def step(xb):
        loss = loss_fn(model, xb, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    if compile_step:
        # Static shapes: the last, shorter batch gets its own graph instead of
        # making every graph dynamic (which measured slower).
        step = torch.compile(step, dynamic=False)

    def run(epochs):
        n = Xt.shape[0]
        for _ in range(epochs):
            order = torch.randperm(n, generator=generator)
            for start in range(0, n, BATCH_SIZE):
                step(Xt[order[start : start + BATCH_SIZE]])
        return n * epochs

    return run


def _clocks():
    return time.perf_counter(), time.process_time()


def _elapsed(start):
    """(wall, CPU) seconds since ``start``; CPU time is what this process consumed."""
    return tuple(now - then for now, then in zip(_clocks(), start))


class EpochClock(io.TextIOBase):
    """A stdout sink that stamps (wall, CPU) clocks at the end of every line written.

    An estimator fitted with ``verbose=2`` prints one line per epoch
    ("Iteration k, ..."), after the epoch's loss is read back, so consecutive
    stamps bracket whole epochs; the line that ends the fit (why it stopped)
    is not stamped.
    """

    def __init__(self):
        super().__init__()
        self.stamps = []
        self._line = ""

    def writable(self):
        return True

    def write(self, text):
        # print() writes the message and its newline in separate calls.
        for piece in text.splitlines(keepends=True):
            self._line += piece
            if self._line.endswith("\n"):
                if self._line.startswith("Iteration "):
                    self.stamps.append(_clocks())
                self._line = ""
        return len(text)


@dataclass
class LoopTiming:
    """Samples processed and (wall, CPU) seconds spent in a fit's training loop alone."""

    samples: int
    seconds: tuple


def ours(estimator_class, X, holder):
    def run(epochs):
        est = estimator_class(
            n_components=N_COMPONENTS,
            hidden_layer_sizes=HIDDEN,
            batch_size=BATCH_SIZE,
            max_iter=epochs,
            tol=0,
            # Throughput of the loop over all of X, as the hand-written loops do.
            early_stopping=False,
            device="cpu",
            random_state=0,
            # One line per epoch, to EpochClock: the loop's time without fit's set-up.
            verbose=2,
        )
        clock = EpochClock()
        with warnings.catch_warnings(), redirect_stdout(clock):
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X)
        holder["estimator"] = est
        samples = est.n_iter_ * X.shape[0]
        if len(clock.stamps) != est.n_iter_:
            raise RuntimeError(
                f"verbose=2 printed {len(clock.stamps)} lines for {est.n_iter_} epochs; "
                "EpochClock needs one line per epoch"
            )
        if est.n_iter_ < 2:
            return samples, None
        # The first stamp closes epoch 1, whose start is hidden inside fit.
        loop = LoopTiming(
            (est.n_iter_ - 1) * X.shape[0],
            tuple(last - first for last, first in zip(clock.stamps[-1], clock.stamps[0])),
        )
        return samples, loop

    return run


class IndexBatches:
    """A skorch ``iterator_train`` whose batches are one index op into a tensor each."""

    def __init__(self, dataset, batch_size, shuffle=True):
        self.X = torch.as_tensor(dataset.X)
        self.y = torch.as_tensor(dataset.y)
        self.batch_size = batch_size
        self.shuffle = shuffle

    def __len__(self):
        return math.ceil(len(self.X) / self.batch_size)

    def __iter__(self):
        n = len(self.X)
        order = torch.randperm(n) if self.shuffle else torch.arange(n)
        for start in range(0, n, self.batch_size):
            rows = order[start : start + self.batch_size]
            yield self.X[rows], self.y[rows]


def skorch_net(X, *, index_batches=False):
    extra = {"iterator_train": IndexBatches} if index_batches else {}

    def run(epochs):
        torch.manual_seed(0)
        net = NeuralNetRegressor(
            AE,
            module__n_features=X.shape[1],
            criterion=nn.MSELoss,
            optimizer=torch.optim.Adam,
            lr=LEARNING_RATE,
            max_epochs=epochs,
            batch_size=BATCH_SIZE,
            train_split=None,
            # skorch does not shuffle by default; the other variants all do.
            iterator_train__shuffle=True,
            device="cpu",
            verbose=0,
            **extra,
        )
        net.fit(X, X)
        return len(net.history) * X.shape[0]

    return run


def mlp_regressor(X):
    def run(epochs):
        est = MLPRegressor(
            hidden_layer_sizes=(*HIDDEN, N_COMPONENTS, *HIDDEN[::-1]),
            batch_size=BATCH_SIZE,
            max_iter=epochs,
            tol=0,
            solver="adam",
            learning_rate_init=LEARNING_RATE,
            random_state=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, X)
        return est.n_iter_ * X.shape[0]

    return run


# ----------------------------------------------------------------------------
# Running interleaved blocks.


@dataclass
class Variant:
    name: str
    factory: object  # () -> run(epochs); deferred so a failing setup is reported, not fatal
    reference: str = BASELINE
    epochs: int | None = None  # None: the workload's epochs per block
    time_limit: float | None = None  # seconds allowed for setup + warm-up
    run: object = None
    error: str | None = None
    # Per block: (wall, CPU) samples/s, and the same for sklearn_ae's training loop alone.
    rates: list = field(default_factory=list)
    inner_rates: list = field(default_factory=list)
    note: str = ""


class _Timeout(Exception):
    pass


@contextmanager
def time_limit(seconds):
    if seconds is None or not hasattr(signal, "SIGALRM"):
        yield
        return

    def handler(signum, frame):
        raise _Timeout(f"took longer than {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _reason(exc):
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:120] if text else ''}"


def _run_block(v, epochs):
    start = _clocks()
    samples = v.run(v.epochs or epochs)
    elapsed = _elapsed(start)
    if isinstance(samples, tuple):
        samples, loop = samples
        if loop is not None:
            v.inner_rates.append(tuple(loop.samples / t for t in loop.seconds))
    v.rates.append(tuple(samples / t for t in elapsed))


def bench_workload(name, X, variants, *, rounds, epochs, log):
    log(f"\n[{name}] X {X.shape}, {rounds} rounds, {epochs} epoch(s) per block")
    for v in variants:
        if v.error:
            continue
        start = time.perf_counter()
        try:
            with time_limit(v.time_limit):
                v.run = v.factory()
                v.run(v.epochs or epochs)
        except Exception as exc:  # a failed variant is a result, not a crash
            v.error = f"failed: {_reason(exc)}"
        else:
            if v.time_limit is not None:
                v.note = f"set-up + warm-up {time.perf_counter() - start:.1f} s"
        log(f"  warm-up {v.name}: {time.perf_counter() - start:.1f} s {v.error or ''}")
    references = [v for v in variants if any(u.reference == v.name for u in variants)]
    for r in range(rounds + 1):
        # The extra last round runs only the references, so that every round's
        # blocks are bracketed by a reference block before and after them.
        for v in variants if r < rounds else references:
            if v.error:
                continue
            try:
                _run_block(v, epochs)
            except Exception as exc:
                v.error = f"failed in round {r + 1}: {_reason(exc)}"
        log(
            f"  round {r + 1}: "
            + ", ".join(
                f"{v.name.split(' ')[0]} {v.rates[-1][0]:,.0f}/{v.rates[-1][1]:,.0f}"
                for v in (variants if r < rounds else references)
                if v.rates and not v.error
            )
            + "  (samples/s wall/CPU)"
        )
    by_name = {v.name: v for v in variants}
    rows = []
    for v in variants:
        if v.error or not v.rates:
            rows.append((name, v.name, v.error or "no data", "", "", ""))
            continue
        rate = f"{statistics.median(r[0] for r in v.rates):,.0f}"
        if v in references:
            rows.append((name, v.name, rate, "1.00", "1.00", "reference"))
            continue
        ref = by_name.get(v.reference)
        if ref is None or ref.error or len(ref.rates) != len(v.rates) + 1:
            rows.append((name, v.name, rate, "n/a (reference failed)", "", ""))
            continue
        rows.append((name, v.name, rate, *_ratio_cells(v.rates, ref, v.note)))
        if len(v.inner_rates) == len(v.rates):
            rows.append(
                (
                    name,
                    f"{v.name.split(' ')[0]} same fits, training loop only (epochs 2+)",
                    f"{statistics.median(r[0] for r in v.inner_rates):,.0f}",
                    *_ratio_cells(v.inner_rates, ref, "excludes fit's set-up and epoch 1"),
                )
            )
    return rows


def _ratio_cells(rates, ref, note):
    """Median over rounds of rate / (geometric mean of the bracketing reference blocks)."""
    cells = []
    for k in (0, 1):
        paired = [
            rate[k] / math.sqrt(before[k] * after[k])
            for rate, before, after in zip(rates, ref.rates[:-1], ref.rates[1:])
        ]
        cells.append(paired)
    suffix = "" if ref.name == BASELINE else f" (vs {ref.name.split(' ')[0]})"
    wall, cpu = (f"{statistics.median(p):.2f}{suffix}" for p in cells)
    spread = f"{min(cells[0]):.2f}-{max(cells[0]):.2f}"
    return wall, cpu, spread + (f"; {note}" if note else "")


def make_variants(X, *, compile_step, holder):
    variants = [
        Variant(BASELINE, lambda: hand_written(X)),
        Variant(
            "(b) sklearn_ae AutoencoderTransformer",
            lambda: ours(AutoencoderTransformer, X, holder),
        ),
    ]
    if skorch is not None:
        variants += [
            Variant("(c) skorch, default DataLoader", lambda: skorch_net(X)),
            Variant(
                "(c2) skorch, index-batch iterator",
                lambda: skorch_net(X, index_batches=True),
            ),
        ]
    else:
        variants.append(Variant("(c) skorch", None, error="skipped: skorch not installed"))
    variants.append(Variant("(d) sklearn MLPRegressor", lambda: mlp_regressor(X)))
    if VAETransformer is not None:
        variants += [
            Variant(VAE_BASELINE, lambda: hand_written(X, vae=True)),
            Variant(
                "(e) sklearn_ae VAETransformer",
                lambda: ours(VAETransformer, X, {}),
                reference=VAE_BASELINE,
            ),
        ]
    else:
        variants.append(
            Variant("(e) sklearn_ae VAETransformer", None, error="skipped: not importable yet")
        )
    variants += [
        Variant(
            "(f1) (a) with Adam's default (unfused) kernel",
            lambda: hand_written(X, adam_kwargs={}),
        ),
        Variant(
            "(f2) (a) with Adam foreach=True",
            lambda: hand_written(X, adam_kwargs={"foreach": True}),
        ),
    ]
    if compile_step:
        variants.append(
            Variant(
                "(f3) (a) + torch.compile(step)",
                lambda: hand_written(X, compile_step=True),
                time_limit=compile_step,
            )
        )
    else:
        variants.append(
            Variant("(f3) (a) + torch.compile(step)", None, error="not attempted on this workload")
        )
    return variants


# ----------------------------------------------------------------------------
# One-row transform latency.


def transform_latency(name, X, estimator, *, rounds, calls, log):
    X64 = X.astype(np.float64)
    pca = PCA(N_COMPONENTS).fit(X64)
    encoder = estimator.encoder_
    n_rows = min(256, len(X))
    rows64 = [X64[i : i + 1] for i in range(n_rows)]
    rows32 = [torch.from_numpy(X[i : i + 1].copy()) for i in range(n_rows)]

    def bare(i):
        with torch.inference_mode():
            encoder(rows32[i])

    candidates = {
        "sklearn_ae AutoencoderTransformer.transform (float64 row)": lambda i: estimator.transform(
            rows64[i]
        ),
        "PCA(8).transform (float64 row)": lambda i: pca.transform(rows64[i]),
        "bare torch encoder, inference_mode (float32 tensor)": bare,
    }
    wall = {key: [] for key in candidates}
    cpu = {key: [] for key in candidates}
    for fn in candidates.values():
        for i in range(n_rows):
            fn(i)
    for _ in range(rounds):
        for key, fn in candidates.items():
            for k in range(calls):
                i = k % n_rows
                start_wall, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
                fn(i)
                cpu[key].append((time.thread_time_ns() - start_cpu) / 1e3)
                wall[key].append((time.perf_counter_ns() - start_wall) / 1e3)
    pca_key = "PCA(8).transform (float64 row)"
    rows = []
    for key in candidates:
        w, c = statistics.median(wall[key]), statistics.median(cpu[key])
        w_pca, c_pca = statistics.median(wall[pca_key]), statistics.median(cpu[pca_key])
        rows.append((name, key, f"{w:.1f}", f"{w / w_pca:.2f}", f"{c:.1f}", f"{c / c_pca:.2f}"))
    log(f"  [{name}] latency medians (wall): " + ", ".join(row[2] for row in rows))
    return rows


# ----------------------------------------------------------------------------
# Output.








def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workload", choices=["digits", "patches", "all"], default="all")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, help="rounds per workload (default 9 / 7)")
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny data, no compile")
    parser.add_argument(
        "--compile-timeout",
        type=float,
        default=180.0,
        help="seconds allowed for torch.compile set-up + warm-up; 0 skips it",
    )
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    # MLPRegressor and PCA run on numpy's BLAS, which has its own thread pool.
    with threadpool_limits(limits=args.threads):
        run_all(args)


def run_all(args):
    def log(message):
        print(message, file=sys.stderr, flush=True)

    wall_start = time.perf_counter()
    # Read now: the package was imported at start-up, so that is the code measured.
    revision = git_revision()
    configs = {
        "digits": {
            "data": digits_data,
            "rounds": 2 if args.quick else 9,
            "epochs": 2 if args.quick else 30,
            "compile": 0 if args.quick else args.compile_timeout,
        },
        "patches": {
            "data": lambda: patches_data(2_000 if args.quick else 30_000),
            # Three epochs per block: a fit's one-off set-up (validation,
            # statistics, one float32 copy of X) weighs as it would in a short
            # fit, not as a third of the block; the loop-only row shows the loop.
            # --quick keeps two, the fewest that time a loop-only row.
            "rounds": 2 if args.quick else 7,
            "epochs": 2 if args.quick else 3,
            "compile": 0,
        },
    }
    workloads = list(configs) if args.workload == "all" else [args.workload]

    fit_rows, latency_rows = [], []
    for name in workloads:
        cfg = configs[name]
        X = cfg["data"]()
        holder = {}
        variants = make_variants(X, compile_step=cfg["compile"] or None, holder=holder)
        fit_rows += bench_workload(
            name,
            X,
            variants,
            rounds=args.rounds or cfg["rounds"],
            epochs=cfg["epochs"],
            log=log,
        )
        if "estimator" in holder:
            latency_rows += transform_latency(
                name,
                X,
                holder["estimator"],
                rounds=2 if args.quick else 10,
                calls=50 if args.quick else 200,
                log=log,
            )
    wall = time.perf_counter() - wall_start

    blas = ", ".join(
        sorted({f"{i['internal_api']}:{i['num_threads']}" for i in threadpool_info()})
    )
    header = [
        "# bench_fit results",
        "",
        f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}; command: "
        f"`python benchmarks/bench_fit.py {' '.join(sys.argv[1:])}`",
        f"- threads: torch {torch.get_num_threads()}, BLAS ({blas}); "
        f"CPU: {cpu_model()}, {torch.get_num_threads()} of "
        f"{os.cpu_count()} logical cores",
        f"- sklearn_ae at {revision} (at start-up)",
        f"- torch {torch.__version__}, scikit-learn {sklearn.__version__}, "
        f"skorch {getattr(skorch, '__version__', 'n/a')}, sklearn_ae {sklearn_ae.__version__}, "
        f"Python {platform.python_version()}",
        "- samples/s: wall clock, median over rounds. Ratio: median over rounds of the "
        "variant's samples/s over the geometric mean of the two reference blocks around "
        "it (the one opening its round and the one opening the next); > 1 is faster. "
        "'By CPU time' is the same ratio from process CPU time, which a busy machine "
        "inflates far less than wall time (other processes preempting this one).",
        f"- wall time: {wall:.0f} s"
        + (" (--quick: numbers are not meaningful)" if args.quick else ""),
        "",
        "## Training throughput",
        "",
        markdown_table(
            [
                "workload",
                "variant",
                "samples/s",
                "ratio to hand-written loop",
                "same, by CPU time",
                "wall ratio min-max; notes",
            ],
            fit_rows,
        ),
        "",
        "## One-row transform latency",
        "",
        markdown_table(
            [
                "workload",
                "call",
                "median µs per call",
                "ratio to PCA",
                "median µs, thread CPU time",
                "ratio to PCA, CPU time",
            ],
            latency_rows,
        ),
        "",
    ]
    text = "\n".join(header)
    publish(text, RESULTS, log)


if __name__ == "__main__":
    main()
