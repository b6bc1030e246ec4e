"""The one harness every ``bench_*.py`` runs on: cases, rounds, clocks, child processes, results.

A benchmark declares its cases and its report (``benchmarks/README.md`` shows
how) and ends with ``harness.main(BENCHMARK)``. The variants of a :class:`Case`
run in interleaved rounds, A B C A B C ...: CPU speed on a shared machine
drifts by tens of percent over minutes, so only variants measured close in time
compare fairly; a ratio is taken within a round (:func:`paired`) or against the
reference blocks just before and after a variant's block (:func:`bracketed`),
and the median over rounds is reported. A variant that needs a fresh process
(its own peak memory or thread pool, another checkout's package) runs in a
:class:`Child`, one protocol for all: the script re-invoked as ``script --child
'<json>'`` prints one JSON line, the last of its stdout. Every run prints its
report as markdown and writes it, with every measurement, the commit, the
machine and the date, to ``benchmarks/results/latest/`` (git-ignored);
``--save`` also writes ``benchmarks/results/<script>.json``, from which
``docs/conf.py`` builds the tables of ``docs/guide/benchmarks.rst``.
"""

import argparse
import json
import math
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
median = statistics.median


def log(message):
    """Progress goes to stderr: stdout holds the report (or a child's JSON line) only."""
    print(message, file=sys.stderr, flush=True)


def clocks(thread=False):
    """(wall, CPU) seconds now: the process's CPU time, or this thread's.

    Other processes preempting this one inflate wall time but hardly CPU time:
    on a busy machine a ratio by CPU time stays put where the wall one spreads.
    """
    return time.perf_counter(), time.thread_time() if thread else time.process_time()


def since(start, thread=False):
    """(wall, CPU) seconds since ``start``, a value of :func:`clocks`."""
    return tuple(now - then for now, then in zip(clocks(thread), start))


def timed(fn, *args, thread=False):
    """(``fn(*args)``, its (wall, CPU) seconds)."""
    start = clocks(thread)
    return fn(*args), since(start, thread)


def repeat(fn, n, thread=False):
    """(wall, CPU) seconds of each call ``fn(k)``, k = 0 .. n - 1, timed alone: for calls
    too short to time in blocks (the median of single calls shrugs off a preempted few)."""
    return [timed(fn, k, thread=thread)[1] for k in range(n)]


def limit_threads(n):
    """Torch's intra-op threads and the BLAS/OpenMP limit at ``n`` (None: left alone)."""
    from threadpoolctl import threadpool_limits

    if n is not None:
        torch.set_num_threads(n)
    return nullcontext() if n is None else threadpool_limits(limits=n)


@dataclass
class Case:
    """One case: the ``params`` naming it and the ``variants`` compared on it.

    ``variants`` maps a name to a callable returning one measurement (a dict),
    or to a string, why that variant did not run. Each of ``rounds`` rounds
    calls every variant once, in order; the names in ``bracket`` (the
    references of :func:`bracketed`) run once more after the last round.
    ``warm_up`` calls each variant once, untimed, first (allocator, kernel
    selection, imports), within ``time_limits[name]`` seconds if given. With
    ``tolerate`` a variant that raises is a result ("failed: ..."), not a crash.
    ``around`` is a context manager factory entered around each round.
    """

    params: dict
    variants: dict
    rounds: int = 1
    bracket: tuple = ()
    warm_up: bool = False
    time_limits: dict = field(default_factory=dict)
    tolerate: bool = False
    around: Callable = nullcontext


def _alarm(signum, frame):
    raise TimeoutError("took longer than its time limit")


def run_case(case):
    """Run one case in interleaved rounds; one record per variant, every measurement kept."""
    records = {name: {**case.params, "variant": name, "runs": []} for name in case.variants}
    for name, variant in case.variants.items():
        records[name].update(error=variant if isinstance(variant, str) else None, warm_up_s=None)

    def attempt(name, when):
        try:
            records[name]["runs"].append(case.variants[name]())
        except Exception as exc:
            if not case.tolerate:
                raise
            text = str(exc).strip().splitlines() or [""]
            records[name]["error"] = f"failed{when}: {type(exc).__name__}: {text[0][:120]}"

    for name in [n for n in case.variants if not records[n]["error"]] if case.warm_up else ():
        limit, start = case.time_limits.get(name), time.perf_counter()
        previous = signal.signal(signal.SIGALRM, _alarm) if limit else None
        signal.setitimer(signal.ITIMER_REAL, limit or 0)
        try:
            attempt(name, "")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            if limit:
                signal.signal(signal.SIGALRM, previous)
        records[name].update(runs=[], warm_up_s=time.perf_counter() - start)
    for r in range(case.rounds + bool(case.bracket)):
        with case.around():
            for name in case.variants:
                if (r < case.rounds or name in case.bracket) and not records[name]["error"]:
                    attempt(name, f" in round {r + 1}")
        log(f"  {', '.join(map(str, case.params.values()))}: round {r + 1} done")
    return list(records.values())


def paired(values, references):
    """Per round, a variant's value over the reference's of the same round."""
    return [v / r for v, r in zip(values, references)]


def bracketed(values, references):
    """Per round, a value over the geometric mean of the reference blocks around it.

    ``references`` has one block more than ``values`` (the reference opens each
    round, and an extra round closes the last), so block ``i`` sits between
    reference blocks ``i`` and ``i + 1``: a slow drift of the CPU's speed cancels.
    """
    return [v / math.sqrt(a * b) for v, a, b in zip(values, references, references[1:])]


class Child:
    """A fresh process running ``script --child '<json params>'``; :meth:`result` parses its
    answer. ``checkout`` goes first on ``PYTHONPATH`` (its ``sklearn_ae`` is the one
    imported); ``threads`` sets the OpenMP/BLAS variables, read before numpy starts."""

    def __init__(
        self, script, params, *, checkout=None, threads=None, env=None, timeout=3 * 3600, nproc=0
    ):
        env = {**os.environ, **(env or {}), **({"PYTHONPATH": str(checkout)} if checkout else {})}
        for name in ("OMP", "OPENBLAS", "MKL") if threads else ():
            env[f"{name}_NUM_THREADS"] = str(threads)
        # nproc > 0: torchrun starts that many copies (rank 0 answers; the rest print nothing).
        launch = ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
        command, pipe = (
            [
                sys.executable,
                *launch[: 4 * bool(nproc)],
                str(script),
                "--child",
                json.dumps(params),
            ],
            subprocess.PIPE,
        )
        self.timeout = timeout
        self.process = subprocess.Popen(command, env=env, stdout=pipe, stderr=pipe, text=True)

    def result(self):
        """The child's last line of stdout, parsed as JSON; raises when the child failed."""
        try:
            out, err = self.process.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate()
            err += f"\nkilled after {self.timeout} s\n"
        if self.process.returncode != 0 or not out.strip():
            sys.stderr.write(err)
            raise RuntimeError(f"a child failed (exit {self.process.returncode}); stderr above")
        return json.loads(out.strip().splitlines()[-1])


def run_child(script, params, **options):
    """Start a :class:`Child` and wait for its result."""
    return Child(script, params, **options).result()


# ----------------------------------------------------------------------------
# The reference: a hand-written torch training loop with fused Adam.

N_COMPONENTS, HIDDEN, BATCH_SIZE, LEARNING_RATE = 8, (128, 64), 256, 1e-3


class AE(nn.Module):
    """The D-128-64-8 network with a mirrored decoder; ``vae`` makes it the VAE twin, a
    Gaussian likelihood with learned per-feature noise variance and an analytic KL."""

    def __init__(self, n_features, n_components=N_COMPONENTS, hidden=HIDDEN, vae=False):
        super().__init__()

        def mlp(sizes):
            layers = [nn.Linear(sizes[0], sizes[1])]
            for n_in, n_out in zip(sizes[1:-1], sizes[2:]):
                layers += [nn.ReLU(), nn.Linear(n_in, n_out)]
            return nn.Sequential(*layers)

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
    """The reference loop on float32 ``X``: returns ``run(epochs) -> samples processed``.

    One float32 tensor, ``torch.randperm`` per epoch, index batches of 256, no
    per-batch ``.item()``, ``torch.optim.Adam(fused=True)`` (what the estimators
    use on CPU and CUDA; ``adam_kwargs`` replaces ``{"fused": True}``). The model
    persists across calls, so a ``torch.compile`` of the step is paid once.
    """
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
        # Static shapes: the last, shorter batch gets its own graph instead of
        # making every graph dynamic (which measured slower).
        step = torch.compile(step, dynamic=False)

    def run(epochs):
        for _ in range(epochs):
            order = torch.randperm(len(Xt), generator=generator)
            for start in range(0, len(Xt), BATCH_SIZE):
                step(Xt[order[start : start + BATCH_SIZE]])
        return len(Xt) * epochs

    return run


# ----------------------------------------------------------------------------
# What was measured, where, when, and the report.


def revision(checkout=ROOT):
    """The commit of ``checkout`` and whether its package or benchmarks have edits."""

    def git(*args):
        return subprocess.run(["git", *args], cwd=checkout, capture_output=True, text=True).stdout

    head = git("rev-parse", "HEAD").strip() or None
    status = git("status", "--porcelain", "--", "sklearn_ae", "benchmarks/*.py")
    return {"commit": head, "dirty": bool(status)}


def machine():
    """The CPU, its cores, the thread counts in force and the versions of the stack."""
    import sklearn
    from threadpoolctl import threadpool_info

    import sklearn_ae

    cpu = platform.processor() or platform.machine()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if "model name" in line), cpu)
    blas = ", ".join(
        sorted({f"{i['internal_api']}:{i['num_threads']}" for i in threadpool_info()})
    )
    versions = {"python": platform.python_version(), "torch": torch.__version__}
    versions |= {"numpy": np.__version__, "sklearn": sklearn.__version__}
    threads = {"torch_threads": torch.get_num_threads(), "blas_threads": blas}
    path = str(Path(sklearn_ae.__file__).resolve().parent)
    package = {"sklearn_ae": sklearn_ae.__version__, "sklearn_ae_path": path}
    return {"cpu": cpu, "cores": os.cpu_count(), **threads, **versions, **package}


@dataclass
class Table:
    """One table of a report; ``name`` is how ``docs/conf.py`` finds it in a results file.

    ``header`` is a list, or one string of the headers separated by ``" | "``.
    """

    name: str
    title: str | None
    header: list
    rows: list
    notes: str = ""

    def __post_init__(self):
        self.header = self.header.split(" | ") if isinstance(self.header, str) else self.header


def table(name, title, records, columns, notes=""):
    """A :class:`Table` of ``records`` (dicts), one row each.

    ``columns`` is a list of (header, cell) pairs, ``cell`` a function of the
    record, and of strings of columns separated by ``" | "``, each
    ``"header=key:format"`` (``format(record[key], format)``; the formats
    ``pass`` and ``yes`` write PASS/FAIL and yes/no), ``"header=key"`` (the
    value as is) or ``"key"``; a missing key leaves the cell blank. One such
    string may be the whole of ``columns``.
    """
    specs = []
    for column in [columns] if isinstance(columns, str) else columns:
        for text in column.split(" | ") if isinstance(column, str) else [column]:
            if isinstance(text, str):
                header, _, key = text.rpartition("=") if "=" in text else (text, "", text)
                key, _, spec = key.partition(":")
                text = (header, lambda r, key=key, spec=spec: fmt(r.get(key), spec))
            specs.append(text)
    rows = [[str(cell(r)) for _, cell in specs] for r in records]
    return Table(name, title, [header for header, _ in specs], rows, notes)


def fmt(value, spec=""):
    """``format(value, spec)``, blank for None; specs ``pass`` and ``yes`` name a truth."""
    if value is None or spec not in ("pass", "yes"):
        return "" if value is None else format(value, spec)
    return {"pass": ("FAIL", "PASS"), "yes": ("no", "yes")}[spec][bool(value)]


def markdown(item):
    """A table (or a line of text) as markdown."""
    if isinstance(item, str):
        return item
    lines = [f"## {item.title}", ""] if item.title else []
    lines += [f"| {' | '.join(item.header)} |", "|" + "---|" * len(item.header)]
    lines += [f"| {' | '.join(map(str, row))} |" for row in item.rows]
    return "\n".join(lines + (["", item.notes] if item.notes else []))


@dataclass
class Benchmark:
    """A benchmark's declaration, which :func:`main` runs.

    ``cases(args)`` yields :class:`Case` objects and ``report(records, args)``
    returns tables and text; ``options(parser)`` adds the benchmark's own
    command-line options; ``child(**params)`` is what ``--child`` runs (it
    returns a JSON-able dict); ``threads``, a number or a function of the
    arguments (None: left alone), sets torch's and BLAS's threads for the run;
    ``quick`` is the help of ``--quick``, for benchmarks with a smoke run.
    """

    script: str
    doc: str
    cases: Callable
    report: Callable
    options: Callable | None = None
    child: Callable | None = None
    threads: object = 1
    quick: str | None = None


def main(spec, argv=None):
    """Parse the options, run the cases (or the child), print and write the report."""
    argv, name = sys.argv[1:] if argv is None else argv, Path(spec.script).stem
    if argv[:1] == ["--child"]:
        answer = spec.child(**json.loads(argv[1]))
        if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 answers
            print(json.dumps(answer), flush=True)
        return
    parser = argparse.ArgumentParser(description=spec.doc.strip().splitlines()[0])
    if spec.options is not None:
        spec.options(parser)
    if spec.quick:
        parser.add_argument("--quick", action="store_true", help=spec.quick)
    saved = f"also write benchmarks/results/NAME.json (default {name}), for the docs' tables"
    parser.add_argument("--save", nargs="?", const=name, metavar="NAME", help=saved)
    args = parser.parse_args(argv)
    quick = getattr(args, "quick", False)
    if quick and args.save:
        parser.error("--save keeps full runs only (--quick numbers are meaningless)")
    with limit_threads(spec.threads(args) if callable(spec.threads) else spec.threads):
        command = shlex.join(["python", f"benchmarks/{name}.py", *argv])
        date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        result = {"script": name, "command": command, "date": date, "machine": machine()}
        # The checkout whose package this process imported (PYTHONPATH may name another).
        result.update(revision(Path(result["machine"]["sklearn_ae_path"]).parent), quick=quick)
        start = time.perf_counter()
        records = [record for case in spec.cases(args) for record in run_case(case)]
        result["wall_s"] = time.perf_counter() - start
        items = spec.report(records, args)
    text = "\n\n".join([header(result), *map(markdown, items)]) + "\n"
    print(text)
    result["tables"] = [asdict(item) for item in items if isinstance(item, Table)]
    result.update(text=[item for item in items if isinstance(item, str)], records=records)
    (RESULTS / "latest").mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest" / f"{name}.md").write_text(text, encoding="utf-8")
    paths = [RESULTS / "latest" / f"{name}.json"] + [RESULTS / f"{args.save}.json"] * bool(
        args.save
    )
    for path in paths:
        path.write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")
    log(f"written to {', '.join(map(str, paths))} and {RESULTS / 'latest' / name}.md")


def header(result):
    """The lines every report opens with: what ran, where, on what."""
    m, dirty = result["machine"], " + uncommitted changes" * bool(result["dirty"])
    quick = " (--quick: numbers are not meaningful)" * result["quick"]
    return "\n".join(
        [
            f"# {result['script']} results\n\n- date: {result['date']}; command: "
            f"`{result['command']}`",
            f"- commit {(result['commit'] or '?')[:10]}{dirty}; sklearn_ae {m['sklearn_ae']} "
            f"from {m['sklearn_ae_path']}\n- CPU: {m['cpu']}, {m['cores']} logical cores; "
            f"threads: torch {m['torch_threads']}, BLAS ({m['blas_threads']})",
            f"- torch {m['torch']}, numpy {m['numpy']}, scikit-learn {m['sklearn']}, Python "
            f"{m['python']}\n- wall time: {result['wall_s']:.0f} s{quick}",
        ]
    )
