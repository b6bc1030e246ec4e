"""The command line as a tool on a user's CSV: --version, --target, --codes, --save-model,
missing values located as the file shows them, footnotes where they apply, the plot's view."""

import csv
import importlib.util
import subprocess
import sys

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import load_wine
from test_demo import _table_rows

import sklearn_ae
from sklearn_ae.__main__ import main
from sklearn_ae._cli._arguments import build_parser, parse_args
from sklearn_ae._cli._data import _feature_names
from sklearn_ae._cli._report import (
    ELBO_NOTE,
    MAX_ITER_NOTE,
    VAE_KEPT_START_NOTE,
    _print_notes,
    latent_figure,
)

FAST = ["--max-iter", "2", "--device", "cpu", "--no-plot"]
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
LABELS = ["cat", "dog", "emu"]


def _run(capsys, *args):
    assert main([*FAST, *args]) == 0
    return capsys.readouterr().out


def _error(capsys, *args):
    with pytest.raises(SystemExit) as excinfo:
        main([*FAST, *args])
    assert excinfo.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def _labelled_csv(path, n_samples=45, header=True, label_column=2):
    """A CSV of 4 numeric columns and a text label column at ``label_column`` (0-based)."""
    rng = np.random.RandomState(0)
    y = np.array(LABELS)[np.arange(n_samples) % 3]
    X = rng.normal(size=(n_samples, 4)) + np.arange(n_samples)[:, None] % 3
    names = ["w", "x", "y", "z"]
    names.insert(label_column, "animal")
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        if header:
            writer.writerow(names)
        for row, label in zip(X, y):
            cells = [repr(float(v)) for v in row]
            cells.insert(label_column, label)
            writer.writerow(cells)
    return X, y


def test_version(capsys):
    with pytest.raises(SystemExit) as excinfo:
        main(["--version"])
    assert excinfo.value.code == 0
    assert capsys.readouterr().out.strip() == f"sklearn-ae {sklearn_ae.__version__}"


def test_version_from_python_dash_m():
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_ae", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"sklearn-ae {sklearn_ae.__version__}"


@pytest.mark.parametrize(
    "header, target", [(True, "animal"), (True, "3"), (False, "3")], ids=["name", "number", "bare"]
)
def test_target_reports_accuracy(capsys, tmp_path, header, target):
    path = tmp_path / "animals.csv"
    _labelled_csv(path, header=header)
    out = _run(capsys, "--data", str(path), "--target", target, "--n-components", "2", "--no-vae")
    assert "(45 x 4," in out and "(3 classes)" in out
    rows = _table_rows(out, "d")
    assert len(rows[0]) == 7
    for row in rows:
        assert 0 <= float(row[4]) <= 1


def test_integer_labels(capsys, tmp_path):
    path = tmp_path / "numbers.csv"
    X = np.random.RandomState(0).normal(size=(30, 3))
    np.savetxt(path, np.column_stack([X, np.arange(30) % 2]), delimiter=",", header="a,b,c,label")
    # np.savetxt writes "# a,b,c,label": a header all the same.
    out = _run(capsys, "--data", str(path), "--target", "label", "--n-components", "2", "--no-vae")
    assert "LogReg accuracy" in out and "(2 classes)" in out


@pytest.mark.parametrize(
    "content, target, message",
    [
        ("a,b\n" + "1,2\n" * 12, "c", "no column 'c' for --target; its columns are 'a', 'b'"),
        ("1,2\n" * 12, "c", "the file has no header row, so give the column's number, 1 to 2"),
        ("1,2\n" * 12, "3", "no column '3' for --target"),
        ("a,b\n" + "1,2.5\n" * 12, "b", "--target's column 'b' holds non-integer numbers"),
        ("a,b\n" + "1,x\n" * 12, "b", "--target's 'b' holds a single class"),
    ],
)
def test_bad_target(capsys, tmp_path, content, target, message):
    path = tmp_path / "data.csv"
    path.write_text(content)
    assert message in _error(capsys, "--data", str(path), "--target", target)


def test_target_needs_data(capsys):
    assert "--target names a column of --data" in _error(capsys, "--target", "label")


@pytest.mark.parametrize(
    "content, message",
    [
        # Line numbers are the file's (header and blank lines counted), columns by name.
        ("a,b,c\n1,2,3\n\n4,,6\n" + "1,2,3\n" * 10, "missing value at line 4, column 'b'"),
        ("1,2,3\n4,5,NA\n" + "1,2,3\n" * 10, "missing value at line 2, column 3 ('NA')"),
        ("1,,3\n" + "1,2,3\n" * 10, "missing value at line 1, column 2 (an empty cell)"),
        ("a,b\n1,2\n3,4,5\n" + "1,2\n" * 10, "line 3 has 3 values, the header has 2"),
        ("a,b\n1,2\n3,inf\n" + "1,2\n" * 10, "infinite value at line 3, column 'b'"),
    ],
)
def test_bad_cells_are_located_as_in_the_file(capsys, tmp_path, content, message):
    path = tmp_path / "data.csv"
    path.write_text(content)
    assert message in _error(capsys, "--data", str(path))


def test_text_labels_without_header_are_not_a_header(capsys, tmp_path):
    # Every row holds text in the label column: the first row is data.
    path = tmp_path / "animals.csv"
    _labelled_csv(path, header=False, label_column=4)
    out = _run(capsys, "--data", str(path), "--target", "5", "--n-components", "2", "--no-vae")
    assert "(45 x 4," in out


def _read_codes(path):
    with open(path, newline="") as file:
        rows = list(csv.reader(file))
    return rows[0], rows[1:]


@pytest.mark.parametrize(
    "model, estimator", [("autoencoder", "AutoencoderTransformer"), ("vae", "VAETransformer")]
)
def test_codes_and_model_written(capsys, tmp_path, model, estimator):
    data = tmp_path / "animals.csv"
    X, y = _labelled_csv(data)
    codes, saved = tmp_path / "codes.csv", tmp_path / "model.joblib"
    out = _run(
        capsys,
        "--data",
        str(data),
        "--target",
        "animal",
        "--n-components",
        "3",
        "2",
        "--model",
        model,
        "--codes",
        str(codes),
        "--save-model",
        str(saved),
    )
    assert f"for the 45 rows written to {codes}" in out
    header, rows = _read_codes(codes)
    # The first --n-components dimension, every row in file order, labels last.
    assert header == ["code_1", "code_2", "code_3", "animal"]
    assert [row[-1] for row in rows] == list(y)
    Z = np.array([[float(v) for v in row[:-1]] for row in rows])
    # The saved pipeline maps the file's rows, as pandas reads them, to the same
    # codes, without a warning about feature names (warnings are errors here).
    pd = pytest.importorskip("pandas")
    pipeline = joblib.load(saved)
    assert type(pipeline[-1]).__name__ == estimator
    rows = pd.read_csv(data).drop(columns="animal")
    assert_allclose(rows.to_numpy(), X, rtol=0, atol=0)
    assert_allclose(pipeline.transform(rows), Z, rtol=0, atol=0)
    assert "DataFrame with the file's column names" in out
    # The device as it was given, not a torch.device.
    assert pipeline[-1].get_params()["device"] == "cpu"
    assert "device='cpu'" in repr(pipeline) and "device(type" not in repr(pipeline)


def test_model_of_a_headerless_file_takes_arrays(capsys, tmp_path):
    data, saved = tmp_path / "animals.csv", tmp_path / "model.joblib"
    X, _ = _labelled_csv(data, header=False)
    out = _run(
        capsys,
        "--data",
        str(data),
        "--target",
        "3",
        "--n-components",
        "2",
        "--no-vae",
        "--save-model",
        str(saved),
    )
    assert "DataFrame" not in out
    assert joblib.load(saved).transform(X).shape == (45, 2)


@pytest.mark.parametrize(
    "header, index, names",
    [
        (["w", " x ", "label"], 2, ["w", " x "]),  # as pandas.read_csv names them
        (["w", "w", "label"], 2, None),  # pandas would rename the second "w.1"
        (["w", "", "label"], 2, None),  # and this one "Unnamed: 1"
        (None, None, None),
    ],
)
def test_feature_names_are_pandas_names(header, index, names):
    assert _feature_names(header, index) == names


def test_device_parameter_as_given():
    args = parse_args(build_parser(), [])
    assert args.device_param == "auto" and args.device.type in ("cpu", "cuda", "mps")
    assert parse_args(build_parser(), ["--device", "cpu"]).device_param == "cpu"


def test_kept_linear_start_is_reported(capsys, tmp_path):
    # The case: on wine the VAE at d=8 keeps factor analysis and
    # reconstructs 1.55x worse than PCA.
    data, saved = tmp_path / "wine.csv", tmp_path / "model.joblib"
    wine = load_wine()
    names = [*wine.feature_names, "target"]
    np.savetxt(
        data,
        np.column_stack([wine.data, wine.target]),
        delimiter=",",
        header=",".join(names),
        comments="",
    )
    out = _run(
        capsys,
        "--data",
        str(data),
        "--target",
        "target",
        "--n-components",
        "8",
        "--max-iter",
        "200",
        "--model",
        "vae",
        "--save-model",
        str(saved),
    )
    vae = joblib.load(saved)[-1]
    assert vae.best_epoch_ == 0 and vae.validation_scores_ is not None
    line = next(line for line in out.splitlines() if line.startswith("VAETransformer at d="))
    assert line.startswith("VAETransformer at d=8 kept its linear start (factor analysis")
    assert "no epoch beat it on the validation rows" in line
    assert line.endswith(VAE_KEPT_START_NOTE)


def test_codes_of_the_digits(capsys, tmp_path):
    codes = tmp_path / "codes.csv"
    _run(capsys, "--n-components", "2", "--no-vae", "--codes", str(codes))
    header, rows = _read_codes(codes)
    assert header == ["code_1", "code_2", "digit"]
    assert len(rows) == 1797
    assert rows[0][-1] == "0"


def test_codes_without_labels(capsys, tmp_path):
    data, codes = tmp_path / "x.npy", tmp_path / "codes.csv"
    np.save(data, np.random.RandomState(0).normal(size=(20, 4)))
    _run(capsys, "--data", str(data), "--n-components", "2", "--no-vae", "--codes", str(codes))
    header, rows = _read_codes(codes)
    assert header == ["code_1", "code_2"] and len(rows) == 20


def test_model_vae_conflicts_with_no_vae(capsys):
    assert "--model vae needs the VAE" in _error(capsys, "--no-vae", "--model", "vae")


@pytest.mark.parametrize("option", ["--codes", "--save-model"])
def test_output_directory_must_exist(capsys, tmp_path, option):
    assert "does not exist" in _error(capsys, option, str(tmp_path / "missing" / "out"))


def test_footnotes_only_where_they_apply(capsys):
    marked = "| d | epochs |\n|--:|-----:|\n| 2 |   20* |"
    unmarked = "| d | epochs |\n|--:|-----:|\n| 2 |    17 |"
    _print_notes(unmarked, with_elbo=False)
    assert capsys.readouterr().out == ""
    _print_notes(marked, with_elbo=False)
    assert capsys.readouterr().out.strip() == MAX_ITER_NOTE
    _print_notes("| ELBO (score) | 12 |", with_elbo=True)
    assert capsys.readouterr().out.strip() == ELBO_NOTE


def test_no_elbo_note_without_the_vae(capsys):
    out = _run(capsys, "--n-components", "2", "--no-vae")
    assert "ELBO" not in out
    # Two epochs stop at max_iter: the '*' note is printed, once.
    assert out.count(MAX_ITER_NOTE) == 1


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="matplotlib is not installed")
def test_plot_keeps_the_bulk_of_the_codes_in_view():
    rng = np.random.RandomState(0)
    Z = rng.normal(size=(500, 2))
    Z[:3] = [[400.0, -300.0], [-250.0, 80.0], [50.0, 900.0]]
    labels = np.array(LABELS)[np.arange(500) % 3]
    fig = latent_figure({"PCA": rng.normal(size=(500, 2)), "VAETransformer": Z}, labels)
    ax = fig.axes[1]
    for low, high in (ax.get_xlim(), ax.get_ylim()):
        assert -5 < low < -2 and 2 < high < 5
    assert any("3 of 500 codes outside the view" in t.get_text() for t in ax.texts)


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="matplotlib is not installed")
def test_plot_has_one_colour_per_class():
    from matplotlib import colormaps

    rng = np.random.RandomState(0)
    labels = np.array(LABELS)[np.arange(90) % 3]
    fig = latent_figure({"PCA": rng.normal(size=(90, 2))}, labels, "animal")
    fig.canvas.draw()
    scatter = fig.axes[0].collections[0]
    assert scatter.get_cmap().N == 3
    tab10 = np.array(colormaps["tab10"].colors[:3])
    drawn = np.unique(scatter.get_facecolors()[:, :3], axis=0)
    assert_allclose(np.sort(drawn, axis=0), np.sort(tab10, axis=0))
    colorbar = fig.axes[-1]
    assert [t.get_text() for t in colorbar.get_yticklabels()] == LABELS
