"""Peak memory of fit, transform and score_samples on a memory-mapped array against RAM.

A default-network ``AutoencoderTransformer(8)``, one epoch, on a 2 GB float32 ``.npy`` file
(low rank plus noise, written in chunks, never held) read as a ``memmap``, which the package
streams, or ``in-memory`` (streamed above ``sklearn_ae._data.STREAM_BYTES``, else copied into
one tensor; ``--tensor-in-memory`` raises that threshold). Per phase, over the memory just
before the call: the peak RSS increase, exact from ``VmHWM`` reset by ``/proc/self/clear_refs``
(else sampled), and the peak anonymous RSS increase (``RssAnon`` sampled every 5 ms), which is
what the process needs: a memmap's pages in RSS are page cache that the kernel drops. Rows
below the in-memory ``np.load`` come on top of the array and include the call's result; MB
are 10^6 bytes. Throughput: the fit's samples/s, memmap over in-memory. Subnormal weights are
counted: x86 arithmetic on them is slow. Each measurement runs in a fresh child, so each peak
is its own; children alternate memmap, in-memory, ratios are taken within a pair.
"""

import gc
import os
import shutil
import sys
import tempfile
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path

import _harness as harness
import numpy as np

from sklearn_ae._data import STREAM_BYTES_VARIABLE

RANK, NOISE, CHUNK_ROWS, MB = 8, 0.1, 65_536, 1e6
PATHS = ("memmap", "in-memory")
PHASES, CLOCKS = ("np.load", "fit", "transform", "score_samples"), ("wall", "cpu")
ESTIMATOR = {"n_components": 8, "hidden_layer_sizes": (128, 64)}
MEMORY_COLUMNS = (
    "phase | path | batch source=source | peak RSS increase MB=rss:.1f | peak anonymous "
    "RSS increase MB=anon:.1f | array size MB=array:.1f | result MB=result | wall "
    "s=wall:.2f | throughput ratio (wall; CPU)=ratio"
)
THROUGHPUT_COLUMNS = (
    "path | batch source=source | samples/s (wall)=wall:,.0f | samples/s (CPU)=cpu:,.0f | "
    "ratio to in-memory=ratio | same, by CPU time=cpu_ratio | wall ratio per pair=pairs"
)


def write_data(path, n_samples, n_features):
    """Write a low-rank-plus-noise float32 .npy file chunk by chunk; never hold the array."""
    rng, start = np.random.default_rng(0), harness.clocks()[0]
    W = rng.standard_normal((RANK, n_features), dtype=np.float32)
    header = {"descr": "<f4", "fortran_order": False, "shape": (n_samples, n_features)}
    # Plain writes, no writable memmap: RSS stays flat, the children read the file as users do.
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


@contextmanager
def peak_memory(sample=0.005):
    """A dict: at the block's end its peak RSS and anonymous RSS increases, and its clocks."""
    gc.collect()
    try:  # reset VmHWM to the current RSS (Linux >= 4.0)
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        exact = True
    except OSError:
        exact = False
    before, stop, result = _status(), threading.Event(), {}
    peak = dict(before)

    def update():
        peak.update({key: max(peak[key], value) for key, value in _status().items()})

    def sampler():
        while not stop.wait(sample):
            update()

    thread = threading.Thread(target=sampler, daemon=True)
    thread.start()
    start = harness.clocks()
    yield result
    wall, cpu = (now - then for now, then in zip(harness.clocks(), start))
    stop.set()
    thread.join()
    update()
    rss = max(peak["VmHWM"] if exact else 0, peak["VmRSS"]) - before["VmRSS"]
    anon, file = (peak[k] - before[k] for k in ("RssAnon", "RssFile"))
    result.update(rss=rss, anon=anon, file=file, exact=exact, wall=wall, cpu=cpu)


def child(data, path, params, phases=PHASES, threads=1, flush_denormal=False, sample=0.005):
    """``np.load`` and ``phases`` of an estimator (``params``, "estimator": "ae" or "vae")."""
    import torch

    import sklearn_ae
    from sklearn_ae import _data

    limits = harness.limit_threads(threads)
    warnings.simplefilter("ignore")  # the ConvergenceWarning of a short fit
    torch.set_flush_denormal(flush_denormal)
    params = dict(params)
    ae = params.pop("estimator", "ae") == "ae"
    cls = sklearn_ae.AutoencoderTransformer if ae else sklearn_ae.VAETransformer
    if "hidden_layer_sizes" in params:  # a list, after JSON
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    est, measured = cls(**params), {}
    with peak_memory(sample) as peak:
        X = np.load(data, mmap_mode="r" if path == "memmap" else None)
    measured["np.load"] = {**peak, "result": X.nbytes}
    for phase in phases[1:]:
        with peak_memory(sample) as peak:
            out = getattr(est, phase)(X)
        measured[phase] = {**peak, "result": 0 if phase == "fit" else out.nbytes}
        del out
    machine = harness.machine()
    limits.unregister()
    # Arithmetic on subnormal floats takes a slow path on x86 CPUs.
    values = torch.cat([param.detach().abs().ravel() for param in est.module_.parameters()])
    subnormal = int(((values > 0) & (values < torch.finfo(values.dtype).tiny)).sum())
    result = {"path": path, "n_samples": X.shape[0]}
    result["source"] = "StreamedBatches" if _data.streams(X) else "TensorBatches"
    result |= {"n_iter": est.n_iter_, "n_steps": est.n_steps_}
    result["batch_size"] = _data.batch_size_for(est.batch_size, *X.shape)
    result |= {"stream_bytes": _data.stream_bytes(), "subnormal": (subnormal, len(values))}
    threads = f"torch {machine['torch_threads']}, BLAS ({machine['blas_threads']})"
    return result | {"threads": threads, "phases": measured}


def cases(args):
    if not os.path.exists("/proc/self/status"):
        sys.exit("bench_memory.py reads /proc/self/status: it runs on Linux only.")
    if args.quick:
        args.gigabytes, args.pairs = 0.05, 1
    n_samples = max(1, int(args.gigabytes * 1e9 / (4 * args.features)))
    size, free = n_samples * args.features * 4 / MB, shutil.disk_usage(args.dir).free / MB
    if free < 2.5 * size:
        sys.exit(f"{args.dir}: {free:,.0f} MB free, not 2.5 x {size:,.0f} MB (--dir, --gigabytes)")
    with open("/proc/meminfo", encoding="ascii") as f:
        available = next(int(line.split()[1]) * 1024 / MB for line in f if "MemAvailable" in line)
    if available < 2.2 * size:  # the in-memory child holds the array, twice with a tensor copy
        harness.log(f"warning: {available:,.0f} MB of RAM available, the file is {size:,.0f} MB")
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
        harness.log(f"kept {run['data']}") if args.keep else shutil.rmtree(workdir, True)


def report(records, args):
    runs = {r["variant"]: r["runs"] for r in records}
    fits = {path: [run["phases"]["fit"] for run in runs[path]] for path in PATHS}
    # Same samples in both fits of a pair: the rate ratio is the inverse time ratio.
    ratios = {k: harness.paired(*([f[k] for f in fits[p]] for p in PATHS[::-1])) for k in CLOCKS}
    wall, cpu = (harness.median(ratios[k]) for k in CLOCKS)
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
        row |= {k: harness.median(n / f[k] for n, f in zip(samples, fits[path])) for k in CLOCKS}
        row |= {"ratio": "1 (baseline)", "cpu_ratio": "1 (baseline)", "pairs": "-"}
        if path == "memmap":
            row |= {"ratio": f"{wall:.2f}x", "cpu_ratio": f"{cpu:.2f}x"}
            row["pairs"] = ", ".join(f"{p:.2f}" for p in ratios["wall"])
        throughput.append(row)
    reports, first = [run for path in PATHS for run in runs[path]], runs["memmap"][0]
    exact = all(run["phases"][p]["exact"] for run in reports for p in PHASES)
    subnormal = "; ".join("{} {:,} of {:,}".format(r["path"], *r["subnormal"]) for r in reports)
    thresholds = " / ".join(sorted({f"{run['stream_bytes'] / MB:,.0f} MB" for run in reports}))
    estimator = ", ".join(f"{k}={v!r}" for k, v in records[0]["params"].items())
    exact = "exact (VmHWM reset before each call)" if exact else "sampled"
    tensor = "; --tensor-in-memory: no streaming in the in-memory child" * args.tensor_in_memory
    flushed = " (--flush-denormal: subnormal results flushed to 0)" * args.flush_denormal
    return [
        f"- data: {first['n_samples']:,} x {args.features} float32 ({records[0]['mb']:,.0f} MB), "
        f"rank {RANK} plus noise {NOISE}, one .npy file in {args.dir}; streaming threshold "
        f"{thresholds}{tensor}\n- estimator: AutoencoderTransformer({estimator}); batch size "
        f"{first['batch_size']}, epochs run {first['n_iter']}\n- threads in the children: "
        f"{first['threads']}\n- subnormal weights after fit (slow arithmetic on x86): {subnormal} "
        f"after {first['n_steps']:,} optimizer steps{flushed}\n- {args.pairs} pair(s) of fresh "
        f"child processes, memmap then in-memory\n- peak RSS increase: {exact}; peak anonymous "
        "RSS: sampled every 5 ms; the largest over the children of a path (what each column "
        "means: the module docstring). Throughput ratio: memmap samples/s over in-memory "
        "samples/s of the whole fit, median over pairs; > 1 is faster.",
        harness.table("memory", "Peak memory", memory, MEMORY_COLUMNS),
        harness.table("throughput", "Training throughput", throughput, THROUGHPUT_COLUMNS),
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
harness.declare(__name__, cases, report, options, child, None, QUICK)
