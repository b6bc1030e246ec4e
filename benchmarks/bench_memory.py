"""Peak memory of fit, transform and score_samples on a memory-mapped array against RAM.

What it measures
----------------
``AutoencoderTransformer(n_components=8, hidden_layer_sizes=(128, 64),
max_iter=1, tol=0, early_stopping=False, device="cpu", random_state=0)``
(``--epochs`` sets ``max_iter``; ``--early-stopping auto`` restores the
default split; samples/s then still count all N rows) on one float32 ``.npy``
file of about 2 GB (``--gigabytes``), read two ways:

* ``memmap``: ``np.load(path, mmap_mode="r")``, which the package streams
  (:class:`sklearn_ae._data.StreamedBatches`, blocks of 1,024 rows, windows of
  65,536);
* ``in-memory``: ``np.load(path)``, a real ndarray in RAM. An ndarray whose
  float32 copy exceeds ``sklearn_ae._data.STREAM_BYTES`` (1 GiB) is streamed
  too, so at the default 2 GB both paths stream; below it, the in-memory fit
  copies X into one standardized float32 tensor (``TensorBatches``).
  ``--tensor-in-memory`` raises that threshold in the in-memory process, to
  measure the tensor copy at any size. The "batch source" column says which
  source each fit used.

The data are low rank plus noise, ``X = z @ W + 0.1 * noise`` with ``z`` drawn
from N(0, I_8) and a fixed ``W`` of shape (8, 192) (``--features``), written
to the file in chunks of 65,536 rows: the benchmark never holds the array.

For each phase (``np.load`` itself, ``fit``, ``transform``, ``score_samples``),
the table reports the increase of peak resident memory over the resident
memory just before the call:

* peak RSS: ``VmHWM`` of ``/proc/self/status`` after resetting it
  (``echo 5 > /proc/self/clear_refs``) just before the call, so it is exact; if
  the kernel refuses the reset, the largest ``VmRSS`` sampled instead;
* peak anonymous RSS: the largest ``RssAnon`` sampled, every 5 ms, by a
  background thread. A temporary that lives less than a sampling interval can
  be missed; the exact total bounds it.

Pages of a memory-mapped file that the process has read count in its RSS
(``RssFile``), so a pass over the memmap raises the peak RSS by up to the file
size; they are clean page cache that the kernel drops under memory pressure
without swapping. Anonymous memory (the heap: copies, tensors, buffers) is
what the process really needs, and is the column that should stay bounded on
the memmap path. The ``np.load`` row of the in-memory path is the array
itself; the rows below it are increases on top of it. ``transform`` and
``score_samples`` keep their result (N x 8 codes, N scores), whose size is in
the "result MB" column: their increase cannot be less than that. MB are 10^6
bytes.

Training throughput: samples/s of the memmap fit (``n_samples * epochs`` over
the wall time of the whole ``fit``, set-up included: validation, the
statistics pass, the linear start) as a ratio to the in-memory fit. The file
is written and flushed before the first fit, so both paths read it from the
page cache when RAM allows (a file larger than free RAM would be read from
disk by the memmap path).

The header counts the network's subnormal weights after ``fit``. On this
data (and on a nonlinear variant tried while writing this benchmark) the
residual branches' weights drift into the subnormal range once a fit takes a
few thousand optimizer steps: on a 1,041,664-row file, 40% of them after one
epoch (4,069 steps), and then ``fit`` ran 9x and ``transform`` 60x slower on
x86 than with ``--flush-denormal`` (``torch.set_flush_denormal(True)`` in the
children). The memory columns do not depend on it; the run time does.

Method
------
Every measurement runs in a fresh child process (``python bench_memory.py
--child ...``, which prints one JSON line), so each peak is its own and no
allocator state carries over between paths. Children run interleaved, memmap,
in-memory, memmap, in-memory, ... (``--pairs``, default 2); each ratio is taken
within a pair (wall time, and process CPU time from ``time.process_time()``,
which counts the sampling thread too) and the median over pairs is reported.
Memory columns are the largest over the children of a path. Each child does
one ``fit`` of a fixed number of epochs, then ``transform`` and
``score_samples`` on all of X, at 1 torch intra-op thread and a BLAS limit of 1
unless ``--threads`` says otherwise.

Running it
----------
``python benchmarks/bench_memory.py``. The default 2 GB needs 5 GB of free
disk in ``--dir`` (the benchmark refuses below 2.5x the file size) and about
4.5 GB of free RAM; with ``--flush-denormal`` it takes a few minutes on two
cores, without it up to an hour if the weights go subnormal (above).
Options: ``--gigabytes G``, ``--features D``, ``--epochs E``, ``--pairs P``,
``--threads N``, ``--dir DIR`` (default: the system temporary directory),
``--keep`` (keep the file, otherwise deleted at the end), ``--early-stopping
{false,auto}``, ``--tensor-in-memory``, ``--flush-denormal`` and ``--quick``
(0.05 GB, 1 pair: a smoke run of about 10 s, numbers meaningless). The
markdown printed is also written to ``benchmarks/results/memory.md``.
"""

import argparse
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from _report import cpu_model, git_revision, markdown_table, publish

RESULTS = Path(__file__).resolve().parent / "results" / "memory.md"
N_COMPONENTS = 8
HIDDEN = (128, 64)
RANK = 8
NOISE = 0.1
CHUNK_ROWS = 65_536
SEED = 0
SAMPLE_SECONDS = 0.005
PATHS = ("memmap", "in-memory")
PHASES = ("np.load", "fit", "transform", "score_samples")
MB = 1e6


# ----------------------------------------------------------------------------
# The data file.


def write_data(path, n_samples, n_features, log):
    """Write a low-rank-plus-noise float32 .npy file chunk by chunk; never hold the array."""
    rng = np.random.default_rng(SEED)
    W = rng.standard_normal((RANK, n_features), dtype=np.float32)
    header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
        "fortran_order": False,
        "shape": (n_samples, n_features),
    }
    start = time.perf_counter()
    # Plain writes, not a writable memmap: this process's RSS stays flat and
    # the children find the file as a reader would.
    with open(path, "wb") as f:
        np.lib.format.write_array_header_2_0(f, header)
        for first in range(0, n_samples, CHUNK_ROWS):
            k = min(CHUNK_ROWS, n_samples - first)
            chunk = rng.standard_normal((k, RANK), dtype=np.float32) @ W
            chunk += NOISE * rng.standard_normal((k, n_features), dtype=np.float32)
            chunk.tofile(f)
        f.flush()
        # Written back now, not while a child is being measured.
        os.fsync(f.fileno())
    log(
        f"wrote {path} ({os.path.getsize(path) / MB:.0f} MB) in "
        f"{time.perf_counter() - start:.1f} s"
    )


# ----------------------------------------------------------------------------
# Resident memory of this process, per phase.


def _status():
    """VmRSS, VmHWM, RssAnon, RssFile of this process, in bytes."""
    values = {}
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                values[key] = int(rest.split()[0]) * 1024
    return values


def _reset_peak():
    """Reset VmHWM to the current RSS (Linux >= 4.0); whether the kernel allowed it."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        return False
    return True


class PeakMemory:
    """Context manager: peak RSS and anonymous RSS of a block, over the RSS just before it."""

    def __init__(self):
        self.result = None

    def __enter__(self):
        gc.collect()
        self._exact = _reset_peak()
        self._before = _status()
        self._peak = dict(self._before)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        self._clocks = time.perf_counter(), time.process_time()
        return self

    def _update(self):
        for key, value in _status().items():
            self._peak[key] = max(self._peak[key], value)

    def _sample(self):
        while not self._stop.wait(SAMPLE_SECONDS):
            self._update()

    def __exit__(self, *exc):
        wall = time.perf_counter() - self._clocks[0]
        cpu = time.process_time() - self._clocks[1]
        self._stop.set()
        self._thread.join()
        self._update()
        peak_rss = self._peak["VmHWM"] if self._exact else self._peak["VmRSS"]
        self.result = {
            "rss": max(peak_rss, self._peak["VmRSS"]) - self._before["VmRSS"],
            "anon": self._peak["RssAnon"] - self._before["RssAnon"],
            "file": self._peak["RssFile"] - self._before["RssFile"],
            "exact": self._exact,
            "wall": wall,
            "cpu": cpu,
        }
        return False


# ----------------------------------------------------------------------------
# One child: load, fit, transform, score_samples, on one path.


def subnormal_parameters(module):
    """(subnormal, total) counts of the values of a module's parameters.

    Arithmetic on subnormal floats takes a slow path on x86 CPUs: a network
    whose weights are mostly subnormal trains and infers several times slower.
    """
    import torch

    tiny = torch.finfo(torch.float32).tiny
    subnormal = total = 0
    with torch.no_grad():
        for param in module.parameters():
            magnitude = param.detach().abs()
            subnormal += int(((magnitude > 0) & (magnitude < tiny)).sum())
            total += param.numel()
    return subnormal, total


def child(args):
    import torch
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_info, threadpool_limits

    import sklearn_ae._data
    from sklearn_ae import AutoencoderTransformer

    torch.set_num_threads(args.threads)
    limits = threadpool_limits(limits=args.threads)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    if args.flush_denormal:
        torch.set_flush_denormal(True)
    if args.child == "in-memory" and args.tensor_in_memory:
        sklearn_ae._data.STREAM_BYTES = sys.maxsize
    est = AutoencoderTransformer(
        n_components=N_COMPONENTS,
        hidden_layer_sizes=HIDDEN,
        max_iter=args.epochs,
        tol=0,
        early_stopping="auto" if args.early_stopping == "auto" else False,
        device="cpu",
        random_state=0,
    )
    phases = {}

    with PeakMemory() as peak:
        X = np.load(args.data, mmap_mode="r" if args.child == "memmap" else None)
    phases["np.load"] = {**peak.result, "result": X.nbytes}
    streamed = sklearn_ae._data.streams(X)

    with PeakMemory() as peak:
        est.fit(X)
    phases["fit"] = {**peak.result, "result": 0}
    subnormal = subnormal_parameters(est.module_)

    with PeakMemory() as peak:
        Z = est.transform(X)
    phases["transform"] = {**peak.result, "result": Z.nbytes}
    del Z

    with PeakMemory() as peak:
        scores = est.score_samples(X)
    phases["score_samples"] = {**peak.result, "result": scores.nbytes}
    del scores

    blas = sorted({f"{i['internal_api']}:{i['num_threads']}" for i in threadpool_info()})
    limits.unregister()
    report = {
        "path": args.child,
        "n_samples": X.shape[0],
        "n_features": X.shape[1],
        "source": "StreamedBatches" if streamed else "TensorBatches",
        "n_iter": est.n_iter_,
        "n_steps": est.n_steps_,
        "batch_size": est._effective_batch_size(X.shape[0]),
        "subnormal": subnormal,
        "torch_threads": torch.get_num_threads(),
        "blas": ", ".join(blas),
        "phases": phases,
    }
    print(json.dumps(report), flush=True)


def run_child(path, mode, args):
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        mode,
        "--data",
        str(path),
        "--epochs",
        str(args.epochs),
        "--threads",
        str(args.threads),
        "--early-stopping",
        args.early_stopping,
    ]
    if args.tensor_in_memory:
        command.append("--tensor-in-memory")
    if args.flush_denormal:
        command.append("--flush-denormal")
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1])


# ----------------------------------------------------------------------------
# Report.




def _mem_available():
    """Bytes the kernel reports as available for new allocations, or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None






def _mb(n_bytes):
    return f"{n_bytes / MB:.1f}"


def memory_rows(reports, ratios):
    rows = []
    for phase in PHASES:
        for path in PATHS:
            runs = [r for r in reports if r["path"] == path]
            measured = [r["phases"][phase] for r in runs]
            source, throughput = "-", ""
            if phase == "fit":
                source = runs[0]["source"]
                if path == "memmap":
                    throughput = f"{ratios['wall']:.2f}x (CPU {ratios['cpu']:.2f}x)"
                else:
                    throughput = "1 (baseline)"
            elif phase in ("transform", "score_samples"):
                source = "row batches"
            rows.append(
                [
                    phase,
                    path,
                    source,
                    _mb(max(m["rss"] for m in measured)),
                    _mb(max(m["anon"] for m in measured)),
                    _mb(runs[0]["phases"]["np.load"]["result"]),
                    _mb(runs[0]["phases"][phase]["result"]) if phase != "fit" else "-",
                    f"{statistics.median(m['wall'] for m in measured):.2f}",
                    throughput,
                ]
            )
    return rows


def paired_ratios(reports):
    """Per pair, memmap samples/s over in-memory samples/s, by wall and by CPU time."""
    memmap = [r for r in reports if r["path"] == "memmap"]
    memory = [r for r in reports if r["path"] == "in-memory"]
    # Same samples in both fits of a pair: the rate ratio is the inverse time ratio.
    fits = [(a["phases"]["fit"], b["phases"]["fit"]) for a, b in zip(memmap, memory)]
    wall = [b["wall"] / a["wall"] for a, b in fits]
    cpu = [b["cpu"] / a["cpu"] for a, b in fits]
    return {"wall": statistics.median(wall), "cpu": statistics.median(cpu), "pairs": wall}


def throughput_rows(reports, ratios):
    rows = []
    for path in PATHS:
        runs = [r for r in reports if r["path"] == path]
        samples = [r["n_samples"] * r["n_iter"] for r in runs]
        wall = statistics.median(s / r["phases"]["fit"]["wall"] for s, r in zip(samples, runs))
        cpu = statistics.median(s / r["phases"]["fit"]["cpu"] for s, r in zip(samples, runs))
        if path == "memmap":
            ratio = f"{ratios['wall']:.2f}x"
            cpu_ratio = f"{ratios['cpu']:.2f}x"
            pairs = ", ".join(f"{p:.2f}" for p in ratios["pairs"])
        else:
            ratio, cpu_ratio, pairs = "1 (baseline)", "1 (baseline)", "-"
        rows.append(
            [path, runs[0]["source"], f"{wall:,.0f}", f"{cpu:,.0f}", ratio, cpu_ratio, pairs]
        )
    return rows


def report_text(args, reports, n_samples, file_bytes, revision, wall):
    import sklearn
    import torch

    import sklearn_ae
    from sklearn_ae._data import STREAM_BYTES

    ratios = paired_ratios(reports)
    first = reports[0]
    exact = all(r["phases"][p]["exact"] for r in reports for p in PHASES)
    early = "False" if args.early_stopping == "false" else '"auto"'
    return "\n".join(
        [
            "# bench_memory results",
            "",
            f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}; command: "
            f"`python benchmarks/bench_memory.py {' '.join(sys.argv[1:])}`",
            f"- data: {n_samples:,} x {args.features} float32 ({file_bytes / MB:,.0f} MB), "
            f"rank {RANK} plus noise {NOISE}, one .npy file in {args.dir}; "
            f"STREAM_BYTES = {STREAM_BYTES / MB:,.0f} MB"
            + (
                "; --tensor-in-memory: no streaming in the in-memory child"
                if args.tensor_in_memory
                else ""
            ),
            f"- estimator: AutoencoderTransformer(n_components={N_COMPONENTS}, "
            f"hidden_layer_sizes={HIDDEN}, max_iter={args.epochs}, tol=0, "
            f'early_stopping={early}, device="cpu", random_state=0); '
            f"batch size {first['batch_size']}, epochs run {first['n_iter']}",
            f"- threads in the children: torch {first['torch_threads']}, BLAS ({first['blas']}); "
            f"CPU: {cpu_model()}, {os.cpu_count()} logical cores",
            f"- sklearn_ae {sklearn_ae.__version__} at {revision}; torch {torch.__version__}, "
            f"numpy {np.__version__}, scikit-learn {sklearn.__version__}, "
            f"Python {platform.python_version()}",
            "- subnormal weights after fit (slow arithmetic on x86): "
            + "; ".join(
                f"{r['path']} {r['subnormal'][0]:,} of {r['subnormal'][1]:,}" for r in reports
            )
            + f" after {first['n_steps']:,} optimizer steps"
            + (
                " (--flush-denormal: subnormal results flushed to 0)"
                if args.flush_denormal
                else ""
            ),
            f"- {args.pairs} pair(s) of fresh child processes, memmap then in-memory; "
            f"wall time: {wall:.0f} s"
            + (" (--quick: numbers are not meaningful)" if args.quick else ""),
            "- peak RSS increase: over the RSS just before the call; "
            + ("exact (VmHWM reset before each call)" if exact else "sampled every 5 ms")
            + ". Peak anonymous RSS: sampled every 5 ms. Largest over the children of a "
            "path. On the memmap path RSS includes the file's pages the process read "
            "(RssFile): reclaimable page cache, not heap; the anonymous column is the heap. "
            "In-memory rows below np.load are on top of the array. Result MB: the returned "
            "array, which the increase includes. Throughput ratio: memmap samples/s over "
            "in-memory samples/s of the whole fit, median over pairs; > 1 is faster.",
            "",
            "## Peak memory",
            "",
            markdown_table(
                [
                    "phase",
                    "path",
                    "batch source",
                    "peak RSS increase MB",
                    "peak anonymous RSS increase MB",
                    "array size MB",
                    "result MB",
                    "wall s",
                    "throughput ratio (wall; CPU)",
                ],
                memory_rows(reports, ratios),
            ),
            "",
            "## Training throughput",
            "",
            markdown_table(
                [
                    "path",
                    "batch source",
                    "samples/s (wall)",
                    "samples/s (CPU)",
                    "ratio to in-memory",
                    "same, by CPU time",
                    "wall ratio per pair",
                ],
                throughput_rows(reports, ratios),
            ),
            "",
        ]
    )


# ----------------------------------------------------------------------------
# Entry point.


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gigabytes", type=float, default=2.0, help="file size (10^9 bytes)")
    parser.add_argument("--features", type=int, default=192)
    parser.add_argument("--epochs", type=int, default=1, help="max_iter of each fit")
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads")
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where the file goes")
    parser.add_argument("--keep", action="store_true", help="keep the data file")
    parser.add_argument("--early-stopping", choices=["false", "auto"], default="false")
    parser.add_argument(
        "--tensor-in-memory",
        action="store_true",
        help="never stream the in-memory array (raise STREAM_BYTES in its child)",
    )
    parser.add_argument(
        "--flush-denormal",
        action="store_true",
        help="torch.set_flush_denormal(True) in the children (subnormal weights become 0)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 0.05 GB, 1 pair")
    parser.add_argument("--child", choices=PATHS, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.gigabytes, args.pairs = 0.05, 1
    return args


def main(argv=None):
    args = parse_args(argv)
    if not os.path.exists("/proc/self/status"):
        sys.exit("bench_memory.py reads /proc/self/status: it runs on Linux only.")
    if args.child:
        child(args)
        return

    def log(message):
        print(message, file=sys.stderr, flush=True)

    wall_start = time.perf_counter()
    revision = git_revision()
    n_samples = max(1, int(args.gigabytes * 1e9 / (4 * args.features)))
    file_bytes = n_samples * args.features * 4
    free = shutil.disk_usage(args.dir).free
    if free < 2.5 * file_bytes:
        sys.exit(
            f"bench_memory.py: {args.dir} has {free / MB:,.0f} MB free; a "
            f"{file_bytes / MB:,.0f} MB file needs 2.5x that ({2.5 * file_bytes / MB:,.0f} MB). "
            "Pass --dir on a larger disk or a smaller --gigabytes."
        )
    available = _mem_available()
    if available is not None and available < 2.2 * file_bytes:
        log(
            f"warning: {available / MB:,.0f} MB of RAM available; the in-memory child holds "
            f"the {file_bytes / MB:,.0f} MB array (twice with a tensor copy), and the page "
            "cache will not hold the file for the memmap child."
        )
    workdir = Path(tempfile.mkdtemp(prefix="bench_memory_", dir=args.dir))
    path = workdir / "data.npy"
    try:
        write_data(path, n_samples, args.features, log)
        reports = []
        for i in range(args.pairs):
            for mode in PATHS:
                start = time.perf_counter()
                reports.append(run_child(path, mode, args))
                log(f"pair {i + 1}/{args.pairs} {mode}: {time.perf_counter() - start:.1f} s")
    finally:
        if args.keep:
            log(f"kept {path}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    text = report_text(
        args, reports, n_samples, file_bytes, revision, time.perf_counter() - wall_start
    )
    publish(text, RESULTS, log)


if __name__ == "__main__":
    main()
