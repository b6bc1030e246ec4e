"""The command-line demo behind ``python -m sklearn_ae`` and ``sklearn-ae``.

It compares PCA, :class:`~sklearn_ae.AutoencoderTransformer` and
:class:`~sklearn_ae.VAETransformer` on scikit-learn's digits (or on a user's
``.npy``/``.csv`` file) and prints markdown tables that can be pasted into the
README: held-out reconstruction error and downstream accuracy per latent
dimension, then held-out log-likelihoods of the density models.
"""

import argparse
import os
import time
import warnings

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA, FactorAnalysis
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from . import __version__
from ._autoencoder import AutoencoderTransformer
from ._device import resolve_device

DEFAULT_N_COMPONENTS = (2, 8, 16)
QUICK_N_COMPONENTS = (2, 8)
DEFAULT_MAX_ITER = 200
QUICK_MAX_ITER = 20
DENSITY_N_COMPONENTS = 8
MATPLOTLIB_MISSING = "matplotlib not installed: skipping the plot (pip install 'sklearn-ae[plot]')"


def build_parser():
    """The demo's argument parser."""
    parser = argparse.ArgumentParser(
        prog="sklearn-ae",
        description=(
            "Compare PCA, AutoencoderTransformer and VAETransformer: held-out reconstruction "
            "error, downstream logistic-regression accuracy on the codes, fit time, and the "
            "held-out log-likelihood of the density models. Uses scikit-learn's digits "
            "unless --data is given. Tables are printed in markdown."
        ),
    )
    parser.add_argument(
        "--data",
        metavar="FILE",
        help=(
            "a numeric 2-D .npy or .csv file (rows are samples) to use instead of the digits; "
            "a non-numeric first CSV row is skipped as a header. Columns are scaled to [0, 1] "
            "by a MinMaxScaler fitted on the training split. There are no labels, so the "
            "accuracy column is left out."
        ),
    )
    parser.add_argument(
        "--n-components",
        type=int,
        nargs="+",
        metavar="D",
        help=(
            "latent dimensions to compare (default: 2 8 16; with --quick: 2 8). The 2-D models "
            "are the ones plotted."
        ),
    )
    parser.add_argument(
        "--max-iter",
        type=int,
        metavar="N",
        help=(
            f"maximum training epochs of the neural models (default: {DEFAULT_MAX_ITER}; "
            f"with --quick: {QUICK_MAX_ITER})"
        ),
    )
    parser.add_argument(
        "--device",
        default="auto",
        help="torch device for the neural models: auto, cpu, cuda, cuda:N or mps (default: auto)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        metavar="N",
        help=(
            "torch CPU threads (default: 1). These networks are small: one thread is about "
            "as fast as several on an idle machine, and on a busy one several threads "
            "fighting other processes made fits up to 30x slower."
        ),
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help=(
            "random_state of the train/test split, the dequantization noise and every "
            "estimator (default: 0)"
        ),
    )
    parser.add_argument(
        "--plot",
        default="sklearn_ae_demo.png",
        metavar="PATH",
        help=(
            "where to write the PNG of the 2-D latent spaces of the test set "
            "(default: sklearn_ae_demo.png in the current directory; needs matplotlib)"
        ),
    )
    parser.add_argument("--no-plot", action="store_true", help="do not write the plot")
    parser.add_argument(
        "--no-vae", action="store_true", help="leave VAETransformer out of every table"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=(
            f"smoke run: --max-iter {QUICK_MAX_ITER} and --n-components "
            f"{' '.join(map(str, QUICK_N_COMPONENTS))} unless given explicitly"
        ),
    )
    return parser


# ----------------------------------------------------------------------
# Data.


def _first_row_is_numeric(path):
    with open(path, encoding="utf-8-sig") as f:
        for line in f:
            if line.strip():
                try:
                    [float(field) for field in line.split(",")]
                except ValueError:
                    return False
                return True
    return True


def read_user_data(path):
    """Read a numeric 2-D array from a ``.npy`` or ``.csv`` file.

    Raises
    ------
    ValueError
        With a one-line message naming the file, for any problem.
    """
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".npy", ".csv"):
        raise ValueError(f"{path}: expected a .npy or .csv file, got {ext or 'no extension'!r}")
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file")
    try:
        if ext == ".npy":
            X = np.load(path, allow_pickle=False)
        else:
            skip = 0 if _first_row_is_numeric(path) else 1
            X = np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"{path}: could not read numeric data ({message})") from None
    if X.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D array (samples x features), got shape {X.shape}")
    if not (np.issubdtype(X.dtype, np.number) or X.dtype == bool) or np.iscomplexobj(X):
        raise ValueError(f"{path}: expected real numbers, got dtype {X.dtype}")
    X = X.astype(np.float64)
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{path}: contains NaN or infinite values")
    if X.shape[0] < 10 or X.shape[1] < 1:
        raise ValueError(f"{path}: need at least 10 rows and 1 column, got shape {X.shape}")
    return X


def load_dataset(args, seed):
    """Return a dict with the splits of the reconstruction and density comparisons."""
    if args.data is None:
        pixels, y = load_digits(return_X_y=True)
        X = pixels / 16
        # Dequantization: integer pixels plus uniform noise have a density, so
        # continuous models' log-likelihoods are finite and comparable.
        noise = np.random.RandomState(seed).uniform(size=pixels.shape)
        X_density = (pixels + noise) / 17
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=seed)
        Xd_train, Xd_test = train_test_split(X_density, test_size=0.3, random_state=seed)
        return {
            "description": (
                f"scikit-learn digits ({X.shape[0]} x {X.shape[1]}, pixels / 16), "
                f"train {X_train.shape[0]} / test {X_test.shape[0]}"
            ),
            "density_description": "dequantized digits, (pixels + U(0, 1)) / 17",
            "train": (X_train, y_train),
            "test": (X_test, y_test),
            "density": (Xd_train, Xd_test),
        }
    X = read_user_data(args.data)
    X_train, X_test = train_test_split(X, test_size=0.3, random_state=seed)
    scaler = MinMaxScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    return {
        "description": (
            f"{args.data} ({X.shape[0]} x {X.shape[1]}, min-max scaled on the train split), "
            f"train {X_train.shape[0]} / test {X_test.shape[0]}, no labels"
        ),
        "density_description": f"{args.data}, min-max scaled, not dequantized",
        "train": (X_train, None),
        "test": (X_test, None),
        "density": (X_train, X_test),
    }


# ----------------------------------------------------------------------
# Tables.


def format_table(headers, rows, align):
    """A markdown table with aligned columns; ``align`` is a string of ``l``/``r``."""
    cells = [list(headers)] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row):
        padded = (c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(row, widths, align))
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(
            "-" * (w + 1) + ":" if a == "r" else ":" + "-" * (w + 1) for w, a in zip(widths, align)
        )
        + "|"
    )
    return "\n".join([line(cells[0]), rule] + [line(row) for row in cells[1:]])


def _fit_timed(estimator, X):
    with warnings.catch_warnings():
        # Short runs (--quick, --max-iter) stop at max_iter by design; the
        # epochs column reports it instead.
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        estimator.fit(X)
        return time.perf_counter() - start


def _epochs(estimator):
    n_iter = getattr(estimator, "n_iter_", None)
    if n_iter is None:
        return "-"
    return f"{n_iter}*" if n_iter >= estimator.max_iter else str(n_iter)


def _accuracy(Z_train, y_train, Z_test, y_test):
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(Z_train, y_train)
    return clf.score(Z_test, y_test)


def reconstruction_table(data, n_components_list, make_models):
    """Fit every model at every dimension; return the table rows and the 2-D models."""
    X_train, y_train = data["train"]
    X_test, y_test = data["test"]
    rows, models_2d = [], {}
    for d in n_components_list:
        pca_mse = None
        for name, model in make_models(d):
            seconds = _fit_timed(model, X_train)
            Z_train, Z_test = model.transform(X_train), model.transform(X_test)
            mse = float(np.mean((model.inverse_transform(Z_test) - X_test) ** 2))
            if pca_mse is None:
                pca_mse = mse
            row = [d, name, f"{mse:.5f}", f"{mse / pca_mse:.3f}" if pca_mse > 0 else "-"]
            if y_train is not None:
                row.append(f"{_accuracy(Z_train, y_train, Z_test, y_test):.3f}")
            rows.append(row + [f"{seconds:.2f}", _epochs(model)])
            if d == 2:
                models_2d[name] = Z_test
    headers = ["d", "method", "test MSE", "MSE / PCA"]
    if y_train is not None:
        headers.append("LogReg accuracy")
    headers += ["fit time (s)", "epochs"]
    return format_table(headers, rows, "rl" + "r" * (len(headers) - 2)), models_2d


def density_table(data, n_components, vae_cls, common):
    """Held-out log-likelihoods (nats per sample) of PCA, FactorAnalysis and the VAE."""
    X_train, X_test = data["density"]
    seed = common["random_state"]
    rows, problems = [], []
    for name, model, quantity in [
        ("PCA", PCA(n_components, random_state=seed), "log p(x), probabilistic PCA"),
        ("FactorAnalysis", FactorAnalysis(n_components, random_state=seed), "log p(x)"),
    ]:
        name = f"{name}({n_components})"
        seconds = _fit_timed(model, X_train)
        value, problem = _linear_model_score(model, X_test)
        if problem is not None:
            problems.append(f"{name}: no score, {problem}")
        rows.append([name, quantity, value, seconds, "-"])
    if vae_cls is not None:
        name = f"VAETransformer({n_components})"
        vae = vae_cls(n_components, **common)
        seconds = _fit_timed(vae, X_train)
        epochs = _epochs(vae)
        rows.append([name, "ELBO (score)", vae.score(X_test), seconds, epochs])
        start = time.perf_counter()
        ll = vae.log_likelihood(X_test, n_samples=100, random_state=seed)
        seconds = time.perf_counter() - start
        rows.append([name, "log p(x), IWAE bound, 100 samples", np.mean(ll), seconds, epochs])
        # Markdown tables cannot hold a bare "|", hence no q(z|x) here.
        rows.append(
            [name, "KL(posterior, prior), last train epoch", vae.kl_curve_[-1], None, epochs]
        )
    rows = [
        [
            model,
            quantity,
            "n/a" if value is None else f"{value:.2f}",
            "" if seconds is None else f"{seconds:.2f}",
            epochs,
        ]
        for model, quantity, value, seconds, epochs in rows
    ]
    headers = ["model", "quantity", "nats / sample", "time (s)", "epochs"]
    return format_table(headers, rows, "llrrr"), problems


def _linear_model_score(model, X):
    """``model.score(X)``, or None and why when the fitted Gaussian is degenerate.

    A user's data can make the covariance singular (a constant column with
    ``n_components == n_features``); that is a fact about the data to report,
    not a reason to stop the demo.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = model.score(X)
        except (ValueError, np.linalg.LinAlgError) as exc:
            return None, f"{type(exc).__name__}: {exc}".splitlines()[0]
    if caught:
        return None, f"{caught[0].category.__name__}: {caught[0].message}".splitlines()[0]
    if not np.isfinite(value):
        return None, f"the log-likelihood is {value}"
    return value, None


# ----------------------------------------------------------------------
# Plot.


def _check_plot_path(parser, path):
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        parser.error(f"--plot {path}: directory {parent} does not exist")


def plot_latents(path, codes, labels):
    """Save the 2-D test-set codes of each model side by side; False if matplotlib is missing."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return False
    # A bare Figure on the Agg canvas: no pyplot, so no global backend change.
    fig = Figure(figsize=(4.5 * len(codes) + 1, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(codes), squeeze=False)[0]
    scatter = None
    for ax, (name, Z) in zip(axes, codes.items()):
        if labels is None:
            ax.scatter(Z[:, 0], Z[:, 1], s=6, color="tab:blue", alpha=0.7)
        else:
            scatter = ax.scatter(
                Z[:, 0], Z[:, 1], c=labels, cmap="tab10", vmin=-0.5, vmax=9.5, s=6, alpha=0.8
            )
        ax.set_title(name)
        ax.set_xlabel("component 1")
        ax.set_ylabel("component 2")
    if scatter is not None:
        fig.colorbar(scatter, ax=list(axes), ticks=range(10), label="digit")
    fig.suptitle("2-D latent space of the test set")
    fig.savefig(path, dpi=110)
    return True


# ----------------------------------------------------------------------
# Entry point.


def _load_vae():
    """VAETransformer, or None and the reason it cannot be imported."""
    try:
        from . import VAETransformer
    except Exception as exc:  # a broken import must not take the PCA/AE rows down
        return None, f"{type(exc).__name__}: {exc}"
    return VAETransformer, None


def main(argv=None):
    """Run the demo; ``argv`` defaults to ``sys.argv[1:]``."""
    start = time.perf_counter()
    parser = build_parser()
    args = parser.parse_args(argv)
    max_iter = args.max_iter or (QUICK_MAX_ITER if args.quick else DEFAULT_MAX_ITER)
    if args.max_iter is not None and args.max_iter < 1:
        parser.error(f"--max-iter must be at least 1, got {args.max_iter}")
    if not 0 <= args.seed < 2**32:
        parser.error(f"--seed must be between 0 and 2**32 - 1, got {args.seed}")
    explicit = args.n_components is not None
    n_components_list = list(
        args.n_components or (QUICK_N_COMPONENTS if args.quick else DEFAULT_N_COMPONENTS)
    )
    if any(d < 1 for d in n_components_list):
        parser.error(f"--n-components must be positive, got {n_components_list}")
    n_components_list = list(dict.fromkeys(n_components_list))
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    try:
        device = resolve_device(args.device)
    except ValueError as exc:
        parser.error(f"--device: {exc}")
    plot = not args.no_plot
    if plot:
        _check_plot_path(parser, args.plot)
    try:
        data = load_dataset(args, args.seed)
    except ValueError as exc:
        parser.error(f"--data {exc}")

    n_train, n_features = data["train"][0].shape
    # PCA needs n_components <= min(n_samples, n_features) of the training split.
    limit = min(n_train, n_features)
    shape = f"{n_features} features and {n_train} training rows"
    too_big = [d for d in n_components_list if d > limit]
    if too_big and explicit:
        parser.error(f"--n-components {too_big} exceed what the data allow ({shape})")
    notes = []
    if too_big:
        notes.append(f"n_components {too_big} skipped: the data have {shape}")
        n_components_list = [d for d in n_components_list if d <= limit]
        if not n_components_list:
            parser.error(f"the data have {shape}; pass a smaller --n-components")

    vae_cls, vae_error = (None, None) if args.no_vae else _load_vae()
    common = {"max_iter": max_iter, "random_state": args.seed, "device": args.device}

    def make_models(d):
        models = [
            ("PCA", PCA(d, random_state=args.seed)),
            ("AutoencoderTransformer", AutoencoderTransformer(d, **common)),
        ]
        if vae_cls is not None:
            models.append(("VAETransformer", vae_cls(d, **common)))
        return models

    print(
        f"sklearn-ae {__version__} | torch {torch.__version__} | device {device} | "
        f"{torch.get_num_threads()} torch threads | max_iter {max_iter} | seed {args.seed}"
    )
    print(f"Data: {data['description']}")
    if vae_error is not None:
        print(f"VAETransformer unavailable: {vae_error}")
    for note in notes:
        print(note)

    print("\nHeld-out reconstruction (mean squared error per feature; lower is better)\n")
    table, codes = reconstruction_table(data, n_components_list, make_models)
    print(table)
    print(
        "\n'*' after the epochs: training stopped at max_iter, before the tol criterion "
        "was met (ConvergenceWarning suppressed)."
    )

    d_density = min(DENSITY_N_COMPONENTS, limit)
    print(
        f"\nHeld-out log-likelihood, d={d_density}, on {data['density_description']} "
        "(nats per sample; higher is better)\n"
    )
    table, problems = density_table(data, d_density, vae_cls, common)
    print(table)
    if problems:
        print()
        print("\n".join(problems))
    print(
        "\nELBO = E_q[log p(x|z)] - KL <= log p(x); the IWAE bound tightens it. PCA and "
        "FactorAnalysis give exact log-likelihoods of linear-Gaussian models."
    )

    if plot:
        print()
        if not codes:
            print("No 2-D models in --n-components: skipping the plot.")
        elif plot_latents(args.plot, codes, data["test"][1]):
            print(f"Plot of the 2-D latent spaces written to {args.plot}")
        else:
            print(MATPLOTLIB_MISSING)
    print(f"\nDone in {time.perf_counter() - start:.1f} s.")
    return 0
