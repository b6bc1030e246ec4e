"""The command-line demo: ``python -m sklearn_ae`` / ``sklearn-ae``."""

import importlib.util
import subprocess
import sys

import numpy as np
import pytest
import torch

from sklearn_ae.__main__ import main
from sklearn_ae._cli._arguments import build_parser, parse_args
from sklearn_ae._cli._report import MATPLOTLIB_MISSING, format_table

FAST = ["--max-iter", "3", "--device", "cpu", "--no-plot"]
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def _table_rows(out, first_header):
    """Rows (lists of cells) of the markdown table whose first header cell is ``first_header``."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} "))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def _run(capsys, *args):
    assert main([*FAST, *args]) == 0
    return capsys.readouterr().out


def test_digits_tables(capsys):
    out = _run(capsys, "--n-components", "2", "4")
    assert f"torch {torch.__version__}" in out
    rows = _table_rows(out, "d")
    methods = [row[1] for row in rows]
    assert methods[:2] == ["PCA", "AutoencoderTransformer"]
    assert [row[0] for row in rows if row[1] == "PCA"] == ["2", "4"]
    for row in rows:
        d, method, mse, ratio, accuracy, seconds, epochs = row
        assert 0 < float(mse) < 1
        assert 0 <= float(accuracy) <= 1
        assert float(seconds) >= 0
        if method == "PCA":
            assert ratio == "1.000" and epochs == "-"
        else:
            # Three epochs cannot meet the tol criterion: stopped at max_iter.
            assert epochs == "3*"
    # PCA's reconstruction error falls as d grows.
    pca_mse = [float(row[2]) for row in rows if row[1] == "PCA"]
    assert pca_mse[1] < pca_mse[0]

    density = _table_rows(out, "model")
    assert [row[0] for row in density[:2]] == ["PCA(8)", "FactorAnalysis(8)"]
    assert "dequantized digits" in out
    assert methods[2] == "VAETransformer"
    vae_rows = {row[1]: float(row[2]) for row in density if row[0] == "VAETransformer(8)"}
    assert len(vae_rows) == 3
    assert all(np.isfinite(v) for v in vae_rows.values())
    assert vae_rows["KL(posterior, prior), last train epoch"] >= 0


def test_no_vae(capsys):
    out = _run(capsys, "--n-components", "2", "--no-vae")
    assert "VAETransformer" not in out
    assert [row[1] for row in _table_rows(out, "d")] == ["PCA", "AutoencoderTransformer"]


def test_threads(capsys):
    before = torch.get_num_threads()
    try:
        out = _run(capsys, "--n-components", "2", "--no-vae", "--threads", "1")
        assert "| 1 torch threads |" in out
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_quick_defaults(capsys):
    out = _run(capsys, "--quick", "--no-vae")
    assert [row[0] for row in _table_rows(out, "d") if row[1] == "PCA"] == ["2", "8"]
    # An explicit --max-iter wins over --quick's 20.
    assert "max_iter 3 " in out


def _user_data(n_samples=60, n_features=10):
    return np.random.RandomState(0).normal(size=(n_samples, n_features)) * 5 + 3


def test_data_npy(capsys, tmp_path):
    path = tmp_path / "user.npy"
    np.save(path, _user_data())
    out = _run(capsys, "--data", str(path), "--n-components", "2", "3", "--no-vae")
    assert f"{path} (60 x 10" in out
    assert "LogReg accuracy" not in out
    rows = _table_rows(out, "d")
    assert len(rows[0]) == 6
    assert [row[:2] for row in rows] == [
        ["2", "PCA"],
        ["2", "AutoencoderTransformer"],
        ["3", "PCA"],
        ["3", "AutoencoderTransformer"],
    ]
    assert "d=8" in out and "not dequantized" in out


@pytest.mark.parametrize("header", [True, False])
def test_data_csv(capsys, tmp_path, header):
    X = _user_data(n_samples=40, n_features=5)
    path = tmp_path / "user.csv"
    np.savetxt(path, X, delimiter=",", header="a,b,c,d,e" if header else "", comments="")
    out = _run(capsys, "--data", str(path), "--no-vae")
    # No row is lost to the header detection, none read from the header.
    assert "(40 x 5," in out
    # Defaults above n_features are dropped with a note; the density table uses d=5.
    assert "n_components [8, 16] skipped: the data have 5 features" in out
    assert [row[0] for row in _table_rows(out, "d")] == ["2", "2"]
    assert "d=5" in out


def test_few_rows(capsys, tmp_path):
    # 12 rows leave 8 for training: d=16 cannot be fitted by PCA.
    path = tmp_path / "small.npy"
    np.save(path, _user_data(n_samples=12, n_features=20))
    out = _run(capsys, "--data", str(path), "--no-vae")
    assert "n_components [16] skipped: the data have 20 features and 8 training rows" in out
    assert [row[0] for row in _table_rows(out, "d") if row[1] == "PCA"] == ["2", "8"]
    assert "d=8" in out


def test_degenerate_user_data(capsys, tmp_path):
    # A constant column and n_components == n_features: PCA's covariance is
    # singular. The demo reports it instead of stopping.
    X = _user_data(n_features=5)
    X[:, 2] = 1.0
    path = tmp_path / "constant.npy"
    np.save(path, X)
    out = _run(capsys, "--data", str(path), "--n-components", "2", "--no-vae")
    density = {row[0]: row[2] for row in _table_rows(out, "model")}
    assert density["PCA(5)"] == "n/a"
    assert np.isfinite(float(density["FactorAnalysis(5)"]))
    assert "PCA(5): no score" in out


def _error(capsys, *args):
    with pytest.raises(SystemExit) as excinfo:
        main(list(args))
    assert excinfo.value.code == 2
    return capsys.readouterr().err


def test_missing_file(capsys, tmp_path):
    path = tmp_path / "nope.npy"
    err = _error(capsys, "--data", str(path))
    assert str(path) in err and "no such file" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("data.txt", "1,2\n3,4\n", "expected a .npy or .csv file"),
        ("data.csv", "a,b\n1,2\nx,y\n", "line 3, column 'a': 'x' is not a number"),
        ("data.npy", np.arange(20.0), "expected a 2-D array"),
        ("data.npy", np.array([["a", "b"]] * 20), "expected real numbers"),
        ("data.npy", np.full((20, 3), np.nan), "missing value (NaN) at row 1, column 1"),
        ("data.npy", np.full((20, 3), np.inf), "infinite value at row 1, column 1"),
    ],
)
def test_bad_data(capsys, tmp_path, name, content, message):
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content)
    else:
        np.save(path, content)
    err = _error(capsys, "--data", str(path))
    assert str(path) in err and message in err


def test_too_many_components(capsys, tmp_path):
    path = tmp_path / "user.npy"
    np.save(path, _user_data(n_features=4))
    err = _error(capsys, "--data", str(path), "--n-components", "2", "5")
    assert "exceed what the data allow (4 features" in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--device", "tpu"], "argument --device: device='tpu' is not a valid torch device"),
        (["--seed", "-1"], "argument --seed: must be between 0 and 2**32 - 1, got -1"),
        (["--seed", str(2**32)], "argument --seed: must be between 0 and 2**32 - 1"),
        (["--max-iter", "0"], "argument --max-iter: must be at least 1, got 0"),
        (["--max-iter", "1.5"], "argument --max-iter: expected an integer, got '1.5'"),
        (["--n-components", "2", "0"], "argument --n-components: must be at least 1, got 0"),
        (["--threads", "0"], "argument --threads: must be at least 1, got 0"),
    ],
)
def test_bad_options(capsys, args, message):
    # argparse rejects these while parsing, before any data are loaded.
    assert message in _error(capsys, *args)


@pytest.mark.parametrize(
    "argv, max_iter, n_components, explicit",
    [
        ([], 200, [2, 8, 16], False),
        (["--quick"], 20, [2, 8], False),
        (["--quick", "--max-iter", "5", "--n-components", "8", "2", "8"], 5, [8, 2], True),
    ],
)
def test_parse_args_defaults(argv, max_iter, n_components, explicit):
    args = parse_args(build_parser(), argv)
    assert args.max_iter == max_iter
    # Repeated dimensions are fitted once, in the order first given.
    assert args.n_components == n_components
    assert args.explicit_n_components is explicit


def test_device_is_resolved():
    args = parse_args(build_parser(), ["--device", "cpu"])
    assert args.device == torch.device("cpu")


def test_help(capsys):
    with pytest.raises(SystemExit) as excinfo:
        main(["--help"])
    assert excinfo.value.code == 0
    out = capsys.readouterr().out
    for option in ["--data", "--n-components", "--max-iter", "--plot", "--no-vae", "--quick"]:
        assert option in out


def test_format_table():
    table = format_table(["name", "value"], [["a", "1.5"], ["longer", "10"]], "lr")
    lines = table.splitlines()
    assert lines == [
        "| name   | value |",
        "|:-------|------:|",
        "| a      |   1.5 |",
        "| longer |    10 |",
    ]


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="matplotlib is not installed")
@pytest.mark.parametrize("user_data", [False, True])
def test_plot_written(capsys, tmp_path, user_data):
    path = tmp_path / "x.png"
    args = ["--max-iter", "2", "--device", "cpu", "--n-components", "2", "--plot", str(path)]
    if user_data:
        # No labels: the points are drawn in one colour, without a colorbar.
        np.save(tmp_path / "user.npy", _user_data())
        args += ["--data", str(tmp_path / "user.npy")]
    assert main(args) == 0
    assert f"written to {path}" in capsys.readouterr().out
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 1000


def test_plot_without_matplotlib(capsys, tmp_path, monkeypatch):
    # None in sys.modules makes any import of these names raise ImportError;
    # submodules already imported must be hidden too.
    for name in [n for n in sys.modules if n.startswith("matplotlib.")] + ["matplotlib"]:
        monkeypatch.setitem(sys.modules, name, None)
    path = tmp_path / "x.png"
    assert (
        main(
            [
                "--max-iter",
                "2",
                "--device",
                "cpu",
                "--n-components",
                "2",
                "--no-vae",
                "--plot",
                str(path),
            ]
        )
        == 0
    )
    assert MATPLOTLIB_MISSING in capsys.readouterr().out
    assert not path.exists()


def test_plot_directory_missing(capsys, tmp_path):
    err = _error(capsys, "--plot", str(tmp_path / "missing" / "x.png"))
    assert "does not exist" in err


def test_python_dash_m_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_ae", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert "usage: sklearn-ae" in result.stdout
