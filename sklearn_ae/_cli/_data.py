"""The demo's data: scikit-learn's digits, or a user's ``.npy``/``.csv`` file."""

import csv
import importlib.util
import math
import os
from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler

_TEST_SIZE = 0.3
# Enough for a 70/30 split to leave a few rows on each side.
_MIN_ROWS = 10
# Cells that spreadsheets and pandas write for a missing value (compared
# lower-cased), besides the empty cell.
_MISSING = {"", "na", "n/a", "nan", "null", "none", "?"}
_HAS_PANDAS = importlib.util.find_spec("pandas") is not None


@dataclass
class Dataset:
    """The splits the demo's two comparisons use, and the rows as read.

    Attributes
    ----------
    description, density_description : str
        One line each for the report.
    X_train, X_test : ndarray of shape (n_samples, n_features)
        Splits of the reconstruction comparison, in [0, 1].
    y_train, y_test : ndarray of shape (n_samples,) or None
        Labels: the digits', or the ``--target`` column's; None without.
    X_density_train, X_density_test : ndarray of shape (n_samples, n_features)
        Splits of the log-likelihood comparison.
    X_all : ndarray or pandas.DataFrame of shape (n_samples, n_features)
        Every row as read (the target column left out), in file order, as
        :attr:`scaler` takes them: a DataFrame with the header's column
        names when :attr:`feature_names` is set.
    y_all : ndarray of shape (n_samples,) or None
        Every row's label, in file order.
    scaler : MinMaxScaler
        Fitted: maps rows as read to the models' inputs.
    target_name : str or None
        Name of the label column, for the codes file.
    feature_names : list of str or None
        The CSV header's names of the feature columns, which :attr:`scaler`
        was fitted with (as a DataFrame); None for rows without names.
    """

    description: str
    density_description: str
    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray | None
    y_test: np.ndarray | None
    X_density_train: np.ndarray
    X_density_test: np.ndarray
    X_all: object
    y_all: np.ndarray | None
    scaler: MinMaxScaler
    target_name: str | None = None
    feature_names: list | None = None

    @property
    def max_n_components(self):
        """The largest latent dimension PCA can fit on the training split."""
        return min(self.X_train.shape)


@dataclass
class UserData:
    """A user's file as read.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features), dtype float64
    y : ndarray of shape (n_samples,) or None
        The ``--target`` column: integers, or str labels.
    target_name : str or None
        The target column's header, or ``"column N"`` without a header.
    feature_names : list of str or None
        The header's names of the columns of X; None without a header.
    """

    X: np.ndarray
    y: np.ndarray | None = None
    target_name: str | None = None
    feature_names: list | None = None


def load_dataset(path, seed, target=None):
    """Load and split the digits (``path`` None) or a user's file.

    Parameters
    ----------
    path : str or None
        A ``.npy`` or ``.csv`` file; None for scikit-learn's digits.
    seed : int
        ``random_state`` of the splits and of the dequantization noise.
    target : str, default=None
        The user's label column: a CSV header name, or a column number
        counted from 1.

    Returns
    -------
    Dataset

    Raises
    ------
    ValueError
        With a one-line message naming the file, if it cannot be used.
    """
    if path is None:
        return _digits(seed)
    data = read_user_data(path, target)
    X, y = data.X, data.y
    if y is None:
        X_train, X_test = train_test_split(X, test_size=_TEST_SIZE, random_state=seed)
        y_train = y_test = None
        labels = "no labels"
    else:
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=_TEST_SIZE, random_state=seed
        )
        labels = f"labels from --target {data.target_name!r} ({len(np.unique(y))} classes)"
    # Fitted on the rows as a user reads them back: a CSV with a header as a
    # DataFrame with its column names (pandas.read_csv), else an array. A
    # scaler fitted on an array warned at every DataFrame the saved model was
    # given ("X has feature names, but MinMaxScaler was fitted without").
    names = data.feature_names if _HAS_PANDAS else None
    train_rows, test_rows = _rows(X_train, names), _rows(X_test, names)
    scaler = MinMaxScaler().fit(train_rows)
    X_train, X_test = scaler.transform(train_rows), scaler.transform(test_rows)
    return Dataset(
        description=(
            f"{path} ({X.shape[0]} x {X.shape[1]}, min-max scaled on the train split), "
            f"train {X_train.shape[0]} / test {X_test.shape[0]}, {labels}"
        ),
        density_description=f"{path}, min-max scaled, not dequantized",
        X_train=X_train,
        X_test=X_test,
        y_train=y_train,
        y_test=y_test,
        X_density_train=X_train,
        X_density_test=X_test,
        X_all=_rows(X, names),
        y_all=y,
        scaler=scaler,
        target_name=data.target_name,
        feature_names=names,
    )


def _rows(X, names):
    """X as a DataFrame with columns ``names``, or as it is when ``names`` is None."""
    if names is None:
        return X
    import pandas as pd

    return pd.DataFrame(X, columns=names)


def _digits(seed):
    pixels, y = load_digits(return_X_y=True)
    # Dequantization: integer pixels plus uniform noise have a density, so
    # continuous models' log-likelihoods are finite and comparable.
    noise = np.random.RandomState(seed).uniform(size=pixels.shape)
    X_train, X_test, y_train, y_test, Xd_train, Xd_test = train_test_split(
        pixels / 16, y, (pixels + noise) / 17, test_size=_TEST_SIZE, random_state=seed
    )
    # Fitted to the pixels' range, 0 to 16: exactly pixels / 16, as a step
    # that a saved pipeline can hold.
    scaler = MinMaxScaler().fit(np.array([[0.0], [16.0]]) * np.ones(pixels.shape[1]))
    return Dataset(
        description=(
            f"scikit-learn digits ({pixels.shape[0]} x {pixels.shape[1]}, pixels / 16), "
            f"train {X_train.shape[0]} / test {X_test.shape[0]}"
        ),
        density_description="dequantized digits, (pixels + U(0, 1)) / 17",
        X_train=X_train,
        X_test=X_test,
        y_train=y_train,
        y_test=y_test,
        X_density_train=Xd_train,
        X_density_test=Xd_test,
        X_all=pixels.astype(np.float64),
        y_all=y,
        scaler=scaler,
        target_name="digit",
    )


def read_user_data(path, target=None):
    """Read a numeric 2-D array, and optionally a label column, from a ``.npy`` or ``.csv`` file.

    A first CSV row that does not parse as numbers is taken for a header.

    Parameters
    ----------
    path : str
    target : str, default=None
        The label column: a CSV header name, or a column number counted from 1.

    Returns
    -------
    UserData

    Raises
    ------
    ValueError
        With a one-line message naming the file, for any problem. A missing
        or non-numeric CSV cell is located as a person sees it in the file:
        its line number (counted from 1, the header included) and its
        column's header name (or number, counted from 1).
    """
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".npy", ".csv"):
        raise ValueError(f"{path}: expected a .npy or .csv file, got {ext or 'no extension'!r}")
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file")
    if ext == ".csv":
        data = _read_csv(path, target)
    else:
        data = _read_npy(path, target)
    X = data.X
    if X.shape[0] < _MIN_ROWS or X.shape[1] < 1:
        raise ValueError(
            f"{path}: need at least {_MIN_ROWS} rows and 1 column besides --target's, "
            f"got shape {X.shape}"
        )
    if data.y is not None and len(np.unique(data.y)) < 2:
        raise ValueError(f"{path}: --target's {data.target_name!r} holds a single class")
    return data


def _read_npy(path, target):
    try:
        X = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"{path}: could not read numeric data ({message})") from None
    if X.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D array (samples x features), got shape {X.shape}")
    if not (np.issubdtype(X.dtype, np.number) or X.dtype == bool) or np.iscomplexobj(X):
        raise ValueError(f"{path}: expected real numbers, got dtype {X.dtype}")
    X = X.astype(np.float64)
    bad = ~np.isfinite(X)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        kind = "missing value (NaN)" if np.isnan(X[row, column]) else "infinite value"
        raise ValueError(
            f"{path}: {kind} at row {row + 1}, column {column + 1} (counted from 1); "
            f"{int(bad.sum())} such values in all"
        )
    if target is None:
        return UserData(X)
    index = _target_index(path, target, None, X.shape[1])
    name = f"column {index + 1}"
    y = _labels(path, X[:, index], name)
    return UserData(np.delete(X, index, axis=1), y, name)


def _read_csv(path, target):
    try:
        # utf-8-sig: a byte-order mark would otherwise make a numeric first
        # row look like a header.
        with open(path, encoding="utf-8-sig", newline="") as file:
            reader = csv.reader(file)
            rows = [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"{path}: could not read numeric data ({message})") from None
    if not rows:
        raise ValueError(f"{path}: the file holds no rows")
    header = raw_header = None
    if _is_header(rows[0][1], rows[1][1] if len(rows) > 1 else None):
        raw_header = rows[0][1]
        header = [cell.strip() for cell in raw_header]
        rows = rows[1:]
    n_columns = len(header) if header is not None else len(rows[0][1]) if rows else 0
    index = None if target is None else _target_index(path, target, header, n_columns)

    def column_name(j):
        return f"column {header[j]!r}" if header is not None else f"column {j + 1}"

    values = np.empty((len(rows), n_columns), dtype=np.float64)
    labels = []
    for i, (line, row) in enumerate(rows):
        if len(row) != n_columns:
            expected = "the header has" if header is not None else "the first row has"
            raise ValueError(f"{path}: line {line} has {len(row)} values, {expected} {n_columns}")
        for j, cell in enumerate(row):
            text = cell.strip()
            if text.lower() in _MISSING:
                raise ValueError(
                    f"{path}: missing value at line {line}, {column_name(j)}"
                    + (f" ({cell.strip()!r})" if text else " (an empty cell)")
                    + "; fill or drop it before fitting"
                )
            if j == index:
                labels.append(text)
                continue
            try:
                value = float(text)
            except ValueError:
                raise ValueError(
                    f"{path}: line {line}, {column_name(j)}: {text!r} is not a number "
                    "(only the --target column may hold text)"
                ) from None
            if not math.isfinite(value):
                raise ValueError(f"{path}: infinite value at line {line}, {column_name(j)}")
            values[i, j] = value
    names = _feature_names(raw_header, index)
    if index is None:
        return UserData(values, feature_names=names)
    y = _labels(path, np.array(labels, dtype=object), column_name(index))
    name = header[index] if header is not None else f"column {index + 1}"
    return UserData(np.delete(values, index, axis=1), y, name, names)


def _feature_names(raw_header, index):
    """The feature columns' names as ``pandas.read_csv`` gives them, or None.

    As written in the file, spaces included. None without a header, or where
    pandas would rename a column (an empty or repeated name): a model fitted
    with names other than pandas' would refuse the rows pandas reads.
    """
    if raw_header is None:
        return None
    names = [cell for j, cell in enumerate(raw_header) if j != index]
    if len(set(raw_header)) < len(raw_header) or not all(cell.strip() for cell in raw_header):
        return None
    return names


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_header(first, second):
    """Whether the first row names the columns.

    It does if one of its cells is text where the next row has a number (or
    nothing to compare): a text label column, which holds text on every row,
    and an empty or "NA" cell, a missing value, say nothing either way.
    """
    for j, cell in enumerate(first):
        text = cell.strip()
        if text.lower() in _MISSING or _is_number(text):
            continue
        if second is None or j >= len(second):
            return True
        below = second[j].strip()
        if _is_number(below) or below.lower() in _MISSING:
            return True
    return False


def _target_index(path, target, header, n_columns):
    """The 0-based index of ``--target``'s column."""
    if header is not None and target in header:
        return header.index(target)
    if target.isdigit() and 1 <= int(target) <= n_columns:
        return int(target) - 1
    if header is not None:
        raise ValueError(
            f"{path}: no column {target!r} for --target; its columns are "
            f"{', '.join(repr(name) for name in header)}"
        )
    raise ValueError(
        f"{path}: no column {target!r} for --target: the file has no header row, so give "
        f"the column's number, 1 to {n_columns}"
    )


def _labels(path, column, name):
    """The class labels of ``--target``'s column: integers when all are, else str."""
    try:
        numbers = column.astype(np.float64)
    except ValueError:
        return column.astype(str)
    if not np.all(numbers == np.round(numbers)):
        raise ValueError(
            f"{path}: --target's {name} holds non-integer numbers; the accuracy column "
            "needs class labels"
        )
    return numbers.astype(np.int64)


def fitting_n_components(n_components, data, *, explicit):
    """The requested latent dimensions that PCA can fit on ``data``.

    Parameters
    ----------
    n_components : list of int
    data : Dataset
    explicit : bool
        Whether the user asked for these dimensions; if so, one that does not
        fit is an error rather than a note.

    Returns
    -------
    n_components : list of int
    notes : list of str
        One line per group of dimensions left out.

    Raises
    ------
    ValueError
        If an explicit dimension does not fit, or none does.
    """
    n_train, n_features = data.X_train.shape
    limit = data.max_n_components
    shape = f"{n_features} features and {n_train} training rows"
    too_big = [d for d in n_components if d > limit]
    if not too_big:
        return n_components, []
    if explicit:
        raise ValueError(f"--n-components {too_big} exceed what the data allow ({shape})")
    kept = [d for d in n_components if d <= limit]
    if not kept:
        raise ValueError(f"the data have {shape}; pass a smaller --n-components")
    return kept, [f"n_components {too_big} skipped: the data have {shape}"]
