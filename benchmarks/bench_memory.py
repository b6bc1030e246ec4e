"""Peak memory of fit, transform and score_samples on a memory-mapped array against RAM.

What it measures
----------------
``AutoencoderTransformer(n_components=8, hidden_layer_sizes=(128, 64),
max_iter=1, tol=0, early_stopping=False, device="cpu", random_state=0)``
(``--epochs``, ``--early-stopping auto``: samples/s still count all N rows) on
one float32 ``.npy`` file of about 2 GB (``--gigabytes``), read two ways:

* ``memmap``: ``np.load(path, mmap_mode="r")``, which the package streams
  (``StreamedBatches``, blocks of 1,024 rows, windows of 65,536);
* ``in-memory``: ``np.load(path)``, an ndarray in RAM. One whose float32 copy
  exceeds ``sklearn_ae._data.STREAM_BYTES`` (1 GiB) is streamed too, so at 2 GB
  both paths stream; below, the fit copies X into one standardized float32
  tensor (``TensorBatches``). ``--tensor-in-memory`` sets the environment
  variable ``SKLEARN_AE_STREAM_BYTES``, read by every fit, beyond any array in
  the in-memory child, to measure that copy at any size. The "batch source"
  column says which source each fit used.

The data are low rank plus noise (``write_data``), written in chunks of
65,536 rows: the benchmark never holds the array. For each phase (``np.load``,
``fit``, ``transform``, ``score_samples``) the table reports the increase of
peak resident memory over the resident memory just before the call:

* peak RSS: ``VmHWM`` of ``/proc/self/status``, reset (``echo 5 >
  /proc/self/clear_refs``) just before the call, so it is exact; if the kernel
  refuses the reset, the largest ``VmRSS`` sampled instead;
* peak anonymous RSS: the largest ``RssAnon`` sampled every 5 ms by a
  background thread (a shorter-lived temporary can be missed; the exact total
  bounds it).

Pages of a memory-mapped file that the process has read count in its RSS
(``RssFile``), so a pass over the memmap raises the peak RSS by up to the file
size; they are clean page cache that the kernel drops under memory pressure.
Anonymous memory (copies, tensors, buffers) is what the process really needs,
and is the column that should stay bounded on the memmap path. The in-memory
``np.load`` row is the array itself; the rows below it are on top of it.
``transform`` and ``score_samples`` keep their result, whose size ("result
MB") their increase includes. MB are 10^6 bytes.

Training throughput: samples/s of the whole ``fit`` (set-up included) on the
memmap over the in-memory fit's. The file is written and flushed first, so both
paths read it from the page cache when RAM allows. The header counts the
subnormal weights after ``fit``: residual branches' weights once drifted into
float32's subnormal range after a few thousand steps, where x86 arithmetic is
several times slower (``--flush-denormal`` flushes them in the children); the
memory columns do not depend on it, the run time does.

Method
------
Every measurement runs in a fresh child process, so each peak is its own and
no allocator state carries over. Children run interleaved, memmap, in-memory,
memmap, ... (``--pairs``, default 2); each ratio is taken within a pair (wall
time, and process CPU time, which counts the sampling thread too) and the
median over pairs is reported; memory columns are the largest over a path's
children. One torch/BLAS thread unless ``--threads`` says otherwise. The
default 2 GB needs 5 GB of free disk in ``--dir`` and about 4.5 GB of RAM.
"""

import gc
import os
import shutil
import sys
import tempfile
import threading
import warnings
from pathlib import Path

import _harness as harness
import numpy as np

from sklearn_ae._data import STREAM_BYTES_VARIABLE

RANK, NOISE, CHUNK_ROWS, MB = 8, 0.1, 65_536, 1e6
PATHS = ("memmap", "in-memory")
PHASES = ("np.load", "fit", "transform", "score_samples")
ESTIMATOR = {"n_components": 8, "hidden_layer_sizes": (128, 64)}


def write_data(path, n_samples, n_features):
    """Write a low-rank-plus-noise float32 .npy file chunk by chunk; never hold the array."""
    rng, start = np.random.default_rng(0), harness.clocks()[0]
    W = rng.standard_normal((RANK, n_features), dtype=np.float32)
    header = {"descr": "<f4", "fortran_order": False, "shape": (n_samples, n_features)}
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
        os.fsync(f.fileno())  # written back now, not while a child is measured
    seconds = harness.clocks()[0] - start
    harness.log(f"wrote {path} ({os.path.getsize(path) / MB:.0f} MB) in {seconds:.1f} s")


def _status():
    """VmRSS, VmHWM, RssAnon, RssFile of this process, in bytes."""
    with open("/proc/self/status", encoding="ascii") as f:
        fields = dict(line.split(":", 1) for line in f)
    return {k: int(fields[k].split()[0]) * 1024 for k in ("VmRSS", "VmHWM", "RssAnon", "RssFile")}


class PeakMemory:
    """Peak RSS and anonymous RSS of a block, over the RSS just before it; its clocks too."""

    def __init__(self, sample=0.005):
        self.sample = sample

    def __enter__(self):
        gc.collect()
        try:  # reset VmHWM to the current RSS (Linux >= 4.0)
            with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
                f.write("5")
            self.exact = True
        except OSError:
            self.exact = False
        self.before, self.stop = _status(), threading.Event()
        self.peak = dict(self.before)
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        self.start = harness.clocks()
        return self

    def _update(self):
        self.peak = {key: max(self.peak[key], value) for key, value in _status().items()}

    def _sample(self):
        while not self.stop.wait(self.sample):
            self._update()

    def __exit__(self, *exc):
        wall, cpu = harness.since(self.start)
        self.stop.set()
        self.thread.join()
        self._update()
        peak, before = self.peak, self.before
        rss = max(peak["VmHWM"] if self.exact else 0, peak["VmRSS"]) - before["VmRSS"]
        anon, file = (peak[k] - before[k] for k in ("RssAnon", "RssFile"))
        self.result = {"rss": rss, "anon": anon, "file": file, "exact": self.exact}
        self.result.update(wall=wall, cpu=cpu)


def subnormal_parameters(module):
    """(subnormal, total) counts of the values of a module's parameters: arithmetic on
    subnormal floats takes a slow path on x86 CPUs."""
    import torch

    values = torch.cat([param.detach().abs().ravel() for param in module.parameters()])
    return int(((values > 0) & (values < torch.finfo(values.dtype).tiny)).sum()), len(values)


def child(data, path, params, phases=PHASES, threads=1, flush_denormal=False, sample=0.005):
    """One child: ``np.load`` and then the estimator's ``phases`` on one path, each measured.

    ``params`` are the estimator's, plus ``"estimator"``: ``"ae"`` (default) or ``"vae"``.
    """
    import torch
    from sklearn.exceptions import ConvergenceWarning

    import sklearn_ae._data
    from sklearn_ae import AutoencoderTransformer, VAETransformer

    limits = harness.limit_threads(threads)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    torch.set_flush_denormal(flush_denormal)
    params = dict(params)
    cls = {"ae": AutoencoderTransformer, "vae": VAETransformer}[params.pop("estimator", "ae")]
    if "hidden_layer_sizes" in params:  # a list, after JSON
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    est, measured = cls(**params), {}
    with PeakMemory(sample) as peak:
        X = np.load(data, mmap_mode="r" if path == "memmap" else None)
    measured["np.load"] = {**peak.result, "result": X.nbytes}
    for phase in phases[1:]:
        with PeakMemory(sample) as peak:
            out = getattr(est, phase)(X)
        measured[phase] = {**peak.result, "result": 0 if phase == "fit" else out.nbytes}
        del out
    machine = harness.machine()
    limits.unregister()
    return {
        "path": path,
        "n_samples": X.shape[0],
        "source": "StreamedBatches" if sklearn_ae._data.streams(X) else "TensorBatches",
        "n_iter": est.n_iter_,
        "n_steps": est.n_steps_,
        "batch_size": sklearn_ae._data.batch_size_for(est.batch_size, *X.shape),
        "stream_bytes": sklearn_ae._data.stream_bytes(),
        "subnormal": subnormal_parameters(est.module_),
        "threads": f"torch {machine['torch_threads']}, BLAS ({machine['blas_threads']})",
        "phases": measured,
    }


def cases(args):
    if not os.path.exists("/proc/self/status"):
        sys.exit("bench_memory.py reads /proc/self/status: it runs on Linux only.")
    if args.quick:
        args.gigabytes, args.pairs = 0.05, 1
    n_samples = max(1, int(args.gigabytes * 1e9 / (4 * args.features)))
    size, free = n_samples * args.features * 4 / MB, shutil.disk_usage(args.dir).free / MB
    if free < 2.5 * size:
        sys.exit(
            f"bench_memory.py: {args.dir} has {free:,.0f} MB free; a {size:,.0f} MB file "
            "needs 2.5x that. Pass --dir on a larger disk or a smaller --gigabytes."
        )
    with open("/proc/meminfo", encoding="ascii") as f:
        available = next(int(line.split()[1]) * 1024 / MB for line in f if "MemAvailable" in line)
    if available < 2.2 * size:
        harness.log(
            f"warning: {available:,.0f} MB of RAM available; the in-memory child holds "
            f"the {size:,.0f} MB array (twice with a tensor copy), and the page cache "
            "will not hold the file for the memmap child."
        )
    workdir = Path(tempfile.mkdtemp(prefix="bench_memory_", dir=args.dir))
    early_stopping = "auto" if args.early_stopping == "auto" else False
    params = {**ESTIMATOR, "max_iter": args.epochs, "tol": 0, "early_stopping": early_stopping}
    params.update(device="cpu", random_state=0)
    run = {"data": str(workdir / "data.npy"), "params": params, "threads": args.threads}
    run["flush_denormal"] = args.flush_denormal
    # A threshold no array reaches: the in-memory child copies X to one tensor.
    tensor = {STREAM_BYTES_VARIABLE: str(1 << 62)} if args.tensor_in_memory else {}

    def variant(path):
        env = tensor if path == "in-memory" else {}
        return lambda: harness.run_child(__file__, {**run, "path": path}, env=env)

    try:
        write_data(run["data"], n_samples, args.features)
        params = {"n_samples": n_samples, "mb": size, "params": params}
        yield harness.Case(params, {p: variant(p) for p in PATHS}, rounds=args.pairs)
    finally:
        if args.keep:
            harness.log(f"kept {run['data']}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def report(records, args):
    runs = {r["variant"]: r["runs"] for r in records}
    fits = {path: [run["phases"]["fit"] for run in runs[path]] for path in PATHS}
    # Same samples in both fits of a pair: the rate ratio is the inverse time ratio.
    ratios = {
        k: harness.paired(*([f[k] for f in fits[p]] for p in PATHS[::-1])) for k in ("wall", "cpu")
    }
    wall, cpu = (harness.median(ratios[k]) for k in ("wall", "cpu"))
    memory, throughput = [], []
    for phase, path in [(phase, path) for phase in PHASES for path in PATHS]:
        measured, first = [run["phases"][phase] for run in runs[path]], runs[path][0]
        row = {"phase": phase, "path": path, "array": first["phases"]["np.load"]["result"] / MB}
        row["source"] = {"fit": first["source"], "np.load": "-"}.get(phase, "row batches")
        row |= {k: max(m[k] for m in measured) / MB for k in ("rss", "anon")}
        row["result"] = "-" if phase == "fit" else f"{measured[0]['result'] / MB:.1f}"
        row["wall"] = harness.median(m["wall"] for m in measured)
        if phase == "fit":
            row["ratio"] = f"{wall:.2f}x (CPU {cpu:.2f}x)" if path == "memmap" else "1 (baseline)"
        memory.append(row)
    for path in PATHS:
        samples = [run["n_samples"] * run["n_iter"] for run in runs[path]]
        row = {"path": path, "source": runs[path][0]["source"]}
        row |= {
            k: harness.median(n / f[k] for n, f in zip(samples, fits[path]))
            for k in ("wall", "cpu")
        }
        row |= {"ratio": "1 (baseline)", "cpu_ratio": "1 (baseline)", "pairs": "-"}
        if path == "memmap":
            row |= {"ratio": f"{wall:.2f}x", "cpu_ratio": f"{cpu:.2f}x"}
            row["pairs"] = ", ".join(f"{p:.2f}" for p in ratios["wall"])
        throughput.append(row)
    reports, first = [run for path in PATHS for run in runs[path]], runs["memmap"][0]
    exact = all(run["phases"][p]["exact"] for run in reports for p in PHASES)
    subnormal = "; ".join(
        f"{r['path']} {r['subnormal'][0]:,} of {r['subnormal'][1]:,}" for r in reports
    )
    thresholds = " / ".join(sorted({f"{run['stream_bytes'] / MB:,.0f} MB" for run in reports}))
    estimator = ", ".join(f"{k}={v!r}" for k, v in records[0]["params"].items())
    return [
        f"- data: {first['n_samples']:,} x {args.features} float32 ({records[0]['mb']:,.0f} MB), "
        f"rank {RANK} plus noise {NOISE}, one .npy file in {args.dir}; streaming threshold "
        + thresholds
        + ("; --tensor-in-memory: no streaming in the in-memory child" * args.tensor_in_memory)
        + f"\n- estimator: AutoencoderTransformer({estimator}); batch size {first['batch_size']}, "
        f"epochs run {first['n_iter']}\n- threads in the children: {first['threads']}\n"
        f"- subnormal weights after fit (slow arithmetic on x86): {subnormal} after "
        f"{first['n_steps']:,} optimizer steps"
        + (" (--flush-denormal: subnormal results flushed to 0)" * args.flush_denormal)
        + f"\n- {args.pairs} pair(s) of fresh child processes, memmap then in-memory\n"
        f"- peak RSS increase: {'exact (VmHWM reset before each call)' if exact else 'sampled'}; "
        "peak anonymous RSS: sampled every 5 ms; the largest over the children of a path "
        "(what each column means: the module docstring). Throughput ratio: memmap samples/s "
        "over in-memory samples/s of the whole fit, median over pairs; > 1 is faster.",
        harness.table(
            "memory",
            "Peak memory",
            memory,
            "phase | path | batch source=source | peak RSS increase MB=rss:.1f | peak anonymous "
            "RSS increase MB=anon:.1f | array size MB=array:.1f | result MB=result | wall "
            "s=wall:.2f | throughput ratio (wall; CPU)=ratio",
        ),
        harness.table(
            "throughput",
            "Training throughput",
            throughput,
            "path | batch source=source | samples/s (wall)=wall:,.0f | samples/s (CPU)=cpu:,.0f | "
            "ratio to in-memory=ratio | same, by CPU time=cpu_ratio | wall ratio per pair=pairs",
        ),
    ]


def options(parser):
    parser.add_argument("--gigabytes", type=float, default=2.0, help="file size (10^9 bytes)")
    parser.add_argument("--features", type=int, default=192)
    parser.add_argument("--epochs", type=int, default=1, help="max_iter of each fit")
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads")
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where the file goes")
    parser.add_argument("--keep", action="store_true", help="keep the data file")
    parser.add_argument("--early-stopping", choices=["false", "auto"], default="false")
    parser.add_argument("--tensor-in-memory", action="store_true", help="no streaming in RAM")
    parser.add_argument("--flush-denormal", action="store_true", help="subnormal results to 0")


QUICK = "smoke run: 0.05 GB, 1 pair; numbers meaningless"
BENCHMARK = harness.Benchmark(__file__, __doc__, cases, report, options, child, None, QUICK)

if __name__ == "__main__":
    harness.main(BENCHMARK)
