"""``distributed=True`` on 2 gloo processes: speed, quality, and scaling on paper.

* ``speed``: seconds per epoch of ``AutoencoderTransformer(8, batch_size=4096,
  early_stopping=False)`` on 200,000 8x8x3 sample-image patches, one process at 1 and at
  2 threads against 2 processes (torchrun, ``np.array_split`` shards), interleaved rounds;
  epochs timed by the ``on_epoch`` hook, the first left out.
* ``quality``: held-out mean score (digits, 70/30) of default fits, AE and VAE at d=2
  and 8, seeds 0-4 (``--seeds``), 2 processes against one.
* ``comm``, ``steps``: an all-reduce's latency and bandwidth here, and one step's compute
  at 1 thread; the report projects a step onto 8, 64 and 256 processes sharing its batch,
  with a ring all-reduce of the gradients, ``2 (P - 1) alpha + 2 (P - 1) / P bytes / beta``.
"""

import os
import time
import warnings

import _datasets as datasets
import _harness as harness
import numpy as np
import torch
import torch.distributed as dist
from torch import nn

INTERCONNECTS = {"loopback (measured)": None, "10 GbE": (30e-6, 1.2e9), "200 Gb IB": (2e-6, 24e9)}


class Conv(nn.Sequential):
    """A small convolutional encoder branch for 28x28 images."""

    def __init__(self, n_in, n_out):
        super().__init__(
            nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 16, 3, 2, 1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(32 * 49, n_out),
        )  # fmt: skip


def child(kind, **params):
    import sklearn_ae
    from sklearn_ae._training import on_epoch

    warnings.simplefilter("ignore")
    torch.set_num_threads(params.get("threads", 1))
    rank, size = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    distributed = "RANK" in os.environ
    if kind == "comm":
        dist.init_process_group("gloo")
        times = {}
        for n in (1, 1_000, 10_000, 100_000, 1_000_000):
            x = torch.ones(n)
            for _ in range(3):
                dist.all_reduce(x)
            start = time.perf_counter()
            for _ in range(20):
                dist.all_reduce(x)
            times[n] = (time.perf_counter() - start) / 20
        return {"seconds": times}
    classes = {"ae": sklearn_ae.AutoencoderTransformer, "vae": sklearn_ae.VAETransformer}
    if kind == "quality":
        X_train, X_test = datasets.split(datasets.digits())
        cls, scores = classes[params["model"]], []
        for seed in range(params["seeds"]):
            est = cls(params["d"], random_state=seed, distributed=distributed)
            scores.append(est.fit(np.array_split(X_train, size)[rank]).score(X_test))
        return {"scores": scores}
    stamps, start = [], time.perf_counter()

    def stamp(estimator, result):
        stamps.append((time.perf_counter(), result.n_steps))

    if kind == "speed":
        X = np.array_split(datasets.patches(100_000), size)[rank]
        est = classes["ae"](8, batch_size=4096, early_stopping=False, max_iter=params["epochs"])
    else:  # steps: one process, 5 epochs of 20 steps
        width = params["width"]
        X = np.random.RandomState(0).rand(20 * 256, width).astype(np.float32)
        encoder = Conv if params["network"] == "conv" else None
        est = classes["ae"](8, encoder=encoder, batch_size=256, early_stopping=False, max_iter=5)
    est.set_params(random_state=0, distributed=distributed)
    with on_epoch(stamp):
        est.fit(X)
    epochs = np.diff([t for t, _ in stamps])[1:]
    n_weights = sum(p.numel() for p in est.module_.parameters())
    return {
        "epoch_s": float(np.median(epochs)),
        "step_s": float(np.median(epochs) / stamps[-1][1]),
        "setup_s": stamps[0][0] - start,  # fit's set-up: the group, moments, linear start
        "elapsed_s": time.perf_counter() - start,
        "weights": n_weights,
    }


def launched(params, nproc=0, threads=1):
    start = time.perf_counter()
    result = harness.run_child(__file__, params, nproc=nproc, threads=threads)
    return {**result, "wall_s": time.perf_counter() - start}


def cases(args):
    only = args.only.split(",") if args.only else ["speed", "comm", "steps", "quality"]
    speed = {"kind": "speed", "epochs": 2 if args.quick else 4}
    two = {**speed, "threads": 2}
    variants = {"1 process, 1 thread": lambda: launched(speed),
                "2 processes, 1 thread each": lambda: launched(speed, nproc=2),
                "1 process, 2 threads": lambda: launched(two, 0, 2)}  # fmt: skip
    cases = [harness.Case({"case": "speed"}, variants, rounds=1 if args.quick else 3)]
    cases.append(harness.Case({"case": "comm"}, {"gloo": lambda: launched({"kind": "comm"}, 2)}))
    for network, width in [("default", 64), ("default", 784), ("conv", 784)]:
        p = {"kind": "steps", "network": network, "width": width}
        cases.append(harness.Case({"case": "steps", "network": f"{network}, {width} features"},
                                  {"1 process": lambda p=p: launched(p)}))  # fmt: skip
    for model, d in [("ae", 2)] if args.quick else [(m, d) for m in ("ae", "vae") for d in (2, 8)]:
        p = {"kind": "quality", "model": model, "d": d, "seeds": args.seeds}
        cases.append(harness.Case({"case": "quality", "model": model, "d": d},
                                  {"1 process": lambda p=p: launched(p),
                                   "2 processes": lambda p=p: launched(p, nproc=2)}))  # fmt: skip
    return [case for case in cases if case.params["case"] in only]


def options(parser):
    parser.add_argument("--only", help="comma-separated cases: speed, comm, steps, quality")
    parser.add_argument("--seeds", type=int, default=5, help="quality: seeds 0 to N-1")


def report(records, args):
    names = ("speed", "comm", "steps", "quality")
    by = {c: [r for r in records if r["case"] == c and r["runs"]] for c in names}
    one = [run["epoch_s"] for r in by["speed"][:1] for run in r["runs"]]
    # Start-up: launch and imports (the parent's wall time less the child's), then fit's set-up.
    speed = [{"variant": r["variant"], "epoch": harness.median([x["epoch_s"] for x in r["runs"]]),
              "ratio": harness.median(harness.paired([x["epoch_s"] for x in r["runs"]], one)),
              "startup": harness.median([x["wall_s"] - x["elapsed_s"] + x["setup_s"]
                                         for x in r["runs"]])} for r in by["speed"]]  # fmt: skip
    columns = "variant | s per epoch=epoch:.2f | over 1 process at 1 thread=ratio:.2f"
    tables = [harness.table("speed", "Seconds per epoch, 200,000 patches", speed,
                            columns + " | start-up and set-up s=startup:.1f")]  # fmt: skip
    q = [np.mean(r["runs"][0]["scores"]) for r in by["quality"]]
    quality = [{**r, "one": o, "two": t, "rel": (t - o) / abs(o)}
               for r, o, t in zip(by["quality"][::2], q[::2], q[1::2])]  # fmt: skip
    title = f"Held-out mean score, digits, seeds 0-{args.seeds - 1}"
    columns = "model | d | 1 process=one:.4f | 2 processes=two:.4f | relative=rel:+.2%"
    tables.append(harness.table("quality", title, quality, columns))
    if not by["comm"]:
        return tables
    comm = by["comm"][0]["runs"][0]["seconds"]
    alpha, beta = comm["1"], 4e6 / max(comm["1000000"] - comm["1"], 1e-9)
    projection = []
    for r in by["steps"]:
        run = r["runs"][0]
        for name, (a, b) in {k: v or (alpha, beta) for k, v in INTERCONNECTS.items()}.items():
            row = {"network": r["network"], "interconnect": name, "step": run["step_s"] * 1e3}
            for n in (8, 64, 256):
                reduce = 2 * (n - 1) * a + 2 * (n - 1) / n * 4 * run["weights"] / b
                row[f"p{n}"] = run["step_s"] / (run["step_s"] / n + reduce)
            projection.append(row)
    columns = "network | interconnect | compute ms (1 process)=step:.2f"
    columns += " | 8 processes=p8:.1f | 64=p64:.1f | 256=p256:.1f"
    text = f"gloo between 2 processes here: {alpha * 1e6:.0f} us latency, {beta / 1e9:.2f} GB/s"
    title = "Projected speed-up of a step over 1 process"
    return tables + [harness.table("projection", title, projection, columns, notes=text)]


BENCHMARK = harness.Benchmark(__file__, __doc__, cases, report, options, child=child,
                              quick="2 epochs, AE d=2 only")  # fmt: skip

if __name__ == "__main__":
    harness.main(BENCHMARK)
