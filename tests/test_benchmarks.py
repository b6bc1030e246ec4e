"""The benchmarks' harness (``benchmarks/_harness.py``) and the results files the docs read.

Fast: nothing here runs a benchmark; the child-process protocol is checked
with a two-line script.
"""

import json
import re
import sys
import textwrap
import types
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import _harness as harness  # noqa: E402


def test_rounds_interleave_and_the_references_close_the_last_round():
    calls = []

    def variant(name):
        return lambda: calls.append(name) or {"n": len(calls)}

    case = harness.Case({"c": 1}, {"a": variant("a"), "b": variant("b")}, rounds=2, bracket=("a",))
    records = harness.run_case(case)
    assert calls == ["a", "b", "a", "b", "a"]
    assert [len(r["runs"]) for r in records] == [3, 2]
    assert records[0]["c"] == 1 and records[0]["variant"] == "a"


def test_a_failing_variant_is_a_result_only_when_tolerated():
    def fail():
        raise ValueError("broken")

    case = harness.Case({}, {"ok": dict, "bad": fail, "off": "no"}, rounds=2)
    with pytest.raises(ValueError):
        harness.run_case(case)
    case.tolerate = True
    ok, bad, off = harness.run_case(case)
    assert len(ok["runs"]) == 2 and ok["error"] is None
    assert bad["error"] == "failed in round 1: ValueError: broken" and not bad["runs"]
    assert off["error"] == "no"


def test_a_warm_up_past_its_time_limit_fails_the_variant_alone():
    import time

    case = harness.Case({}, {"slow": lambda: time.sleep(2), "ok": dict}, warm_up=True)
    case.time_limits, case.tolerate = {"slow": 0.05}, True
    slow, ok = harness.run_case(case)
    assert slow["error"].startswith("failed: TimeoutError") and slow["warm_up_s"] < 1
    assert ok["error"] is None and len(ok["runs"]) == 1  # the warm-up call is not a run


def test_ratios():
    assert harness.paired([2.0, 6.0], [1.0, 3.0]) == [2.0, 2.0]
    # Each value against the geometric mean of the reference blocks around it.
    assert harness.bracketed([2.0, 4.0], [1.0, 4.0, 4.0]) == [1.0, 1.0]


def test_tables_and_markdown():
    records = [{"data": "x", "v": 0.5}, {"data": "y", "v": 1.25}]
    table = harness.table("t", "Title", records, ["data", ("v", lambda r: f"{r['v']:.1f}")])
    assert table.header == ["data", "v"] and table.rows == [["x", "0.5"], ["y", "1.2"]]
    lines = harness.markdown(table).splitlines()
    assert lines[:5] == ["## Title", "", "| data | v |", "|---|---|", "| x | 0.5 |"]
    assert harness.Table("t", None, "a | b", []).header == ["a", "b"]


def test_recorded_fit_sees_a_convergence_warning_whatever_the_filters():
    from sklearn.exceptions import ConvergenceWarning

    class Slow:
        def fit(self, X):
            warnings.warn("max_iter reached", ConvergenceWarning)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (wall, cpu), warned = harness.recorded_fit(Slow(), None)
    assert warned and wall >= 0 and cpu >= 0


def test_declare_runs_the_benchmark_only_as_the_main_module(monkeypatch):
    ran = []
    monkeypatch.setattr(harness, "main", ran.append)
    spec = harness.declare(__name__, list, list)
    assert (spec.script, spec.doc, spec.cases) == (__file__, __doc__, list) and not ran
    script = types.ModuleType("__main__", "Doc.")
    script.__file__ = "bench_x.py"
    monkeypatch.setitem(sys.modules, "__main__", script)
    assert ran == [harness.declare("__main__", list, list)]


def test_options_as_a_dict_and_the_results_written(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(harness, "RESULTS", tmp_path)
    seen = {}

    def cases(args):
        seen.update(vars(args))
        yield harness.Case({"c": 1}, {"a": lambda: {"x": 2}})

    def report(records, args):
        return [harness.table("t", None, [{**r, **r["runs"][0]} for r in records], "c | x"), "ok"]

    options = {"--rounds": 3, "--data": {"nargs": "+", "default": ["a"]}}
    spec = harness.Benchmark("bench_x.py", "Doc.", cases, report, options, threads=None)
    harness.main(spec, ["--rounds", "5"])
    assert (seen["rounds"], seen["data"], seen["save"]) == (5, ["a"], None)
    result = json.loads((tmp_path / "latest" / "bench_x.json").read_text())
    assert result["tables"][0]["rows"] == [["1", "2"]] and result["text"] == ["ok"]
    assert "| 1 | 2 |" in capsys.readouterr().out


@pytest.mark.parametrize("fails", [False, True])
def test_child_protocol(tmp_path, fails, capsys):
    script = tmp_path / "child.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import json, sys
            assert sys.argv[1] == "--child"
            print("chatter first")
            print("to stderr", file=sys.stderr)
            sys.exit(3) if {fails} else print(json.dumps(json.loads(sys.argv[2])["x"]))
            """
        )
    )
    if fails:
        with pytest.raises(RuntimeError, match="exit 3"):
            harness.run_child(script, {"x": 1})
        assert "to stderr" in capsys.readouterr().err
    else:
        assert harness.run_child(script, {"x": {"y": [1, 2]}}) == {"y": [1, 2]}


def test_the_docs_tables_exist_in_the_results_files():
    page = (ROOT / "docs" / "guide" / "benchmarks.rst").read_text(encoding="utf-8")
    wanted = re.findall(r"\.\. benchmark-table:: (\S+) (\S+)", page)
    assert wanted
    for name, table in wanted:
        result = json.loads((ROOT / "benchmarks" / "results" / f"{name}.json").read_text())
        assert {"command", "commit", "date", "machine"} <= result.keys()
        assert result.get("transcribed") or result["commit"]
        found = [t for t in result["tables"] if t["name"] == table]
        assert len(found) == 1, (name, table)
        assert all(len(row) == len(found[0]["header"]) for row in found[0]["rows"])
