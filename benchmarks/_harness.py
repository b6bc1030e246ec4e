"""The harness every ``bench_*.py`` runs on: cases, rounds, clocks, child processes, results.

CPU speed on a shared machine drifts by tens of percent over minutes, so the variants of a
:class:`Case` run interleaved, A B C A B C ..., and a ratio is taken within a round
(:func:`paired`) or against the reference blocks around a variant's (:func:`bracketed`),
median over rounds. A variant needing a fresh process runs as a :class:`Child`. Reports go to
stdout and ``results/latest/``; ``--save`` writes ``results/<script>.json``, which the docs'
tables are built from (``benchmarks/README.md``).
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
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import sklearn
import torch
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_info, threadpool_limits

import sklearn_ae

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
median = statistics.median


def log(message):
    """Progress goes to stderr: stdout holds the report (or a child's JSON line) only."""
    print(message, file=sys.stderr, flush=True)


def clocks(thread=False):
    """(wall, CPU) seconds now: CPU time (the process's or the thread's) shrugs off preemption."""
    return time.perf_counter(), time.thread_time() if thread else time.process_time()


def timed(fn, *args, thread=False):
    """(``fn(*args)``, its (wall, CPU) seconds)."""
    start, result = clocks(thread), fn(*args)
    return result, tuple(now - then for now, then in zip(clocks(thread), start))


def repeat(fn, n, thread=False):
    """(wall, CPU) seconds of each call ``fn(k)``, k < n, timed alone (too short for blocks)."""
    return [timed(fn, k, thread=thread)[1] for k in range(n)]


def recorded_fit(estimator, *args):
    """``estimator.fit(*args)``: ((wall, CPU) seconds, whether it issued a ConvergenceWarning)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # recorded: no caller's filter makes one an error
        _, seconds = timed(estimator.fit, *args)
    return seconds, any(issubclass(w.category, ConvergenceWarning) for w in caught)


def limit_threads(n):
    """Torch's intra-op threads and the BLAS/OpenMP limit at ``n`` (None: left alone)."""
    if n is not None:
        torch.set_num_threads(n)
    return nullcontext() if n is None else threadpool_limits(limits=n)


@dataclass
class Case:
    """The ``params`` naming a case; ``variants``, names mapped to a callable returning one
    measurement (a dict) or to why it did not run, called once a round (``bracket``'s once more
    after the last), after an untimed call with ``warm_up`` (within ``time_limits[name]`` s);
    with ``tolerate`` a variant that raises is a result; ``around`` wraps each round."""

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
    """Per round, a value over the geometric mean of the reference blocks around it (block
    ``i`` sits between reference blocks ``i`` and ``i + 1``): a slow drift of speed cancels."""
    return [v / math.sqrt(a * b) for v, a, b in zip(values, references, references[1:])]


class Child:
    """``script --child '<json params>'`` in a fresh process, with ``checkout`` first on
    ``PYTHONPATH``, ``threads`` in the OpenMP/BLAS variables (read before numpy starts) and,
    with ``nproc``, that many copies under torchrun (rank 0 answers)."""

    def __init__(
        self, script, params, *, checkout=None, threads=None, env=None, timeout=3 * 3600, nproc=0
    ):
        env = {**os.environ, **(env or {}), **({"PYTHONPATH": str(checkout)} if checkout else {})}
        env |= {f"{n}_NUM_THREADS": str(threads) for n in ("OMP", "OPENBLAS", "MKL") if threads}
        launch = ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
        command = [*launch * bool(nproc), str(script), "--child", json.dumps(params)]
        self.timeout, pipes = timeout, {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
        self.process = subprocess.Popen([sys.executable, *command], env=env, text=True, **pipes)

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


def revision(checkout=ROOT):
    """The commit of ``checkout`` and whether its package or benchmarks have edits."""

    def git(*args):
        return subprocess.run(["git", *args], cwd=checkout, capture_output=True, text=True).stdout

    status = git("status", "--porcelain", "--", "sklearn_ae", "benchmarks/*.py")
    return {"commit": git("rev-parse", "HEAD").strip() or None, "dirty": bool(status)}


def machine():
    """The CPU, its cores, the thread counts in force and the versions of the stack."""
    cpu = platform.processor() or platform.machine()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if "model name" in line), cpu)
    blas = sorted({f"{i['internal_api']}:{i['num_threads']}" for i in threadpool_info()})
    versions = {"python": platform.python_version(), "torch": torch.__version__}
    versions |= {"numpy": np.__version__, "sklearn": sklearn.__version__}
    threads = {"torch_threads": torch.get_num_threads(), "blas_threads": ", ".join(blas)}
    path = str(Path(sklearn_ae.__file__).resolve().parent)
    package = {"sklearn_ae": sklearn_ae.__version__, "sklearn_ae_path": path}
    return {"cpu": cpu, "cores": os.cpu_count(), **threads, **versions, **package}


@dataclass
class Table:
    """A table of a report, found by ``name`` in a results file; ``header``: a list or "a | b"."""

    name: str
    title: str | None
    header: list
    rows: list
    notes: str = ""

    def __post_init__(self):
        self.header = self.header.split(" | ") if isinstance(self.header, str) else self.header


def table(name, title, records, columns, notes=""):
    """A :class:`Table` of ``records`` (dicts), one row each. ``columns``: (header, cell of a
    record) pairs and strings of columns separated by ``" | "``, each ``"header=key:format"``
    (:func:`fmt`), ``"header=key"`` or ``"key"`` (a missing key: a blank cell)."""
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
    """A benchmark's declaration, which :func:`main` runs: ``cases(args)`` yields :class:`Case`
    objects, ``report(records, args)`` returns tables and text, ``options(parser)`` (or a dict,
    flags to defaults or to arguments) adds options, ``child(**params)`` is what ``--child``
    runs (returning a JSON-able dict), ``threads`` (a number, a function of the arguments or
    None) sets torch's and BLAS's threads, ``quick``, the help of ``--quick``, adds a smoke run."""

    script: str
    doc: str
    cases: Callable
    report: Callable
    options: Callable | dict | None = None
    child: Callable | None = None
    threads: object = 1
    quick: str | None = None


def declare(name, *args, **kwargs):
    """Module ``name``'s :class:`Benchmark` (``args`` after its file and docstring), which
    :func:`main` runs when that module is ``__main__``."""
    module = sys.modules[name]
    spec = Benchmark(module.__file__, module.__doc__, *args, **kwargs)
    if name == "__main__":
        main(spec)
    return spec


def main(spec, argv=None):
    """Parse the options, run the cases (or the child), print and write the report."""
    argv, name = sys.argv[1:] if argv is None else argv, Path(spec.script).stem
    if argv[:1] == ["--child"]:
        answer = spec.child(**json.loads(argv[1]))
        if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 answers
            print(json.dumps(answer), flush=True)
        return
    parser = argparse.ArgumentParser(description=spec.doc.strip().splitlines()[0])
    if callable(spec.options):
        spec.options(parser)
    for flag, value in spec.options.items() if isinstance(spec.options, dict) else ():
        value = value if isinstance(value, dict) else {"type": type(value), "default": value}
        parser.add_argument(flag, **value)
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
    latest = RESULTS / "latest"
    latest.mkdir(parents=True, exist_ok=True)
    (latest / f"{name}.md").write_text(text, encoding="utf-8")
    paths = [latest / f"{name}.json"] + [RESULTS / f"{args.save}.json"] * bool(args.save)
    for path in paths:
        path.write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")
    log(f"written to {', '.join(map(str, paths))} and {latest / name}.md")


def header(result):
    """The lines every report opens with: what ran, where, on what."""
    m, r, dirty = result["machine"], result, " + uncommitted changes" * bool(result["dirty"])
    return (
        f"# {r['script']} results\n\n- date: {r['date']}; command: `{r['command']}`\n- commit "
        f"{(r['commit'] or '?')[:10]}{dirty}; sklearn_ae {m['sklearn_ae']} from "
        f"{m['sklearn_ae_path']}\n- CPU: {m['cpu']}, {m['cores']} logical cores; threads: torch "
        f"{m['torch_threads']}, BLAS ({m['blas_threads']})\n- torch {m['torch']}, numpy "
        f"{m['numpy']}, scikit-learn {m['sklearn']}, Python {m['python']}\n- wall time: "
        f"{r['wall_s']:.0f} s" + " (--quick: numbers are not meaningful)" * r["quick"]
    )
