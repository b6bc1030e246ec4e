"""The demo's report: the comparisons as markdown tables, and the plot of 2-D codes."""

import csv
import time
import warnings

import joblib
import numpy as np
import torch
from sklearn.decomposition import PCA, FactorAnalysis
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import mean_squared_error
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .. import AutoencoderTransformer, VAETransformer, __version__

DENSITY_N_COMPONENTS = 8
IWAE_SAMPLES = 100
MATPLOTLIB_MISSING = (
    "matplotlib not installed: skipping the plot (pip install matplotlib, the 'plot' extra)"
)
MAX_ITER_NOTE = (
    "'*' after the epochs: training stopped at max_iter, before the tol criterion "
    "was met (ConvergenceWarning suppressed)."
)
ELBO_NOTE = (
    "ELBO = E_q[log p(x|z)] - KL <= log p(x); the IWAE bound tightens it. PCA and "
    "FactorAnalysis give exact log-likelihoods of linear-Gaussian models."
)
MODEL_NAMES = {"autoencoder": "AutoencoderTransformer", "vae": "VAETransformer"}
# The linear model each estimator's init="linear" starts from.
LINEAR_STARTS = {"AutoencoderTransformer": "PCA", "VAETransformer": "factor analysis"}
KEPT_START_NOTE = (
    "{name} at d={dims} kept its linear start ({start}; best_epoch_ = 0): no epoch beat "
    "it on the validation rows."
)
# Not "while its likelihood is not": on wine (d=8) PCA's log-likelihood beats
# factor analysis's too.
VAE_KEPT_START_NOTE = (
    "The VAE's objective is the ELBO, a bound on the log-likelihood, not the squared "
    "error, so its reconstruction can be worse than PCA's: compare the density models "
    "by their log-likelihoods."
)
# Share of the codes, at each end of each axis, that the plot may leave out
# of view: a few outlying codes would otherwise squeeze the bulk of them into
# a corner of the panel.
PLOT_TAIL = 0.005


def print_report(args, data, n_components, notes):
    """Fit every model and print the header, both tables and the plot's fate.

    Parameters
    ----------
    args : argparse.Namespace
        From :func:`sklearn_ae._cli._arguments.parse_args`.
    data : sklearn_ae._cli._data.Dataset
    n_components : list of int
        Latent dimensions of the reconstruction table, all fitting ``data``.
    notes : list of str
        Lines printed under the header.
    """
    common = {"max_iter": args.max_iter, "random_state": args.seed, "device": args.device_param}
    print(
        f"sklearn-ae {__version__} | torch {torch.__version__} | device {args.device} | "
        f"{torch.get_num_threads()} torch threads | max_iter {args.max_iter} | seed {args.seed}"
    )
    print(f"Data: {data.description}")
    for note in notes:
        print(note)

    print("\nHeld-out reconstruction (mean squared error per feature; lower is better)\n")
    table, codes, models = reconstruction_table(
        data, n_components, common, with_vae=not args.no_vae
    )
    print(table)
    _print_notes(table, with_elbo=False)
    for note in kept_start_notes(models):
        print(f"\n{note}")

    d_density = min(DENSITY_N_COMPONENTS, data.max_n_components)
    print(
        f"\nHeld-out log-likelihood, d={d_density}, on {data.density_description} "
        "(nats per sample; higher is better)\n"
    )
    table, problems = density_table(data, d_density, common, with_vae=not args.no_vae)
    print(table)
    if problems:
        print()
        print("\n".join(problems))
    _print_notes(table, with_elbo=not args.no_vae)

    if args.codes is not None or args.save_model is not None:
        name = MODEL_NAMES[args.model]
        d = n_components[0]
        model = models[name, d]
        print()
        if args.codes is not None:
            write_codes(args.codes, model, data)
            print(
                f"Codes of {name}(n_components={d}) for the {data.X_all.shape[0]} rows "
                f"written to {args.codes}"
            )
        if args.save_model is not None:
            joblib.dump(make_pipeline(data.scaler, model), args.save_model)
            rows = ""
            if data.feature_names is not None:
                rows = ", rows as a DataFrame with the file's column names (pandas.read_csv)"
            print(
                f"{name}(n_components={d}) with its scaling saved to {args.save_model}: "
                f"joblib.load({args.save_model!r}).transform(rows) gives the codes{rows}"
            )

    if not args.no_plot:
        print()
        if not codes:
            print("No 2-D models in --n-components: skipping the plot.")
        elif plot_latents(args.plot, codes, data.y_test, data.target_name):
            print(f"Plot of the 2-D latent spaces written to {args.plot}")
        else:
            print(MATPLOTLIB_MISSING)


def _print_notes(table, *, with_elbo):
    """The footnotes that apply to ``table``: each only where its mark or quantity is."""
    notes = []
    if any(line.rstrip(" |").endswith("*") for line in table.splitlines()):
        notes.append(MAX_ITER_NOTE)
    if with_elbo and "ELBO" in table:
        notes.append(ELBO_NOTE)
    for note in notes:
        print(f"\n{note}")


def kept_start_notes(models):
    """One line per estimator that kept its linear start at some latent dimension.

    Parameters
    ----------
    models : dict of (str, int) to estimator
        Fitted models by name and latent dimension.

    Returns
    -------
    list of str
    """
    kept = {}
    for (name, d), model in models.items():
        # best_epoch_ is the epoch whose weights were kept, 0 the start; it is
        # judged on validation rows only when there are some.
        if (
            name in LINEAR_STARTS
            and model.init == "linear"
            and model.best_epoch_ == 0
            and model.validation_scores_ is not None
        ):
            kept.setdefault(name, []).append(str(d))
    notes = []
    for name, dims in kept.items():
        note = KEPT_START_NOTE.format(name=name, dims=", ".join(dims), start=LINEAR_STARTS[name])
        if name == "VAETransformer":
            note += " " + VAE_KEPT_START_NOTE
        notes.append(note)
    return notes


def write_codes(path, model, data):
    """Write ``model``'s codes of every row of ``data``, in file order, as CSV.

    Parameters
    ----------
    path : str
    model : fitted estimator
        Fitted on the scaled training split.
    data : sklearn_ae._cli._data.Dataset
    """
    Z = model.transform(data.scaler.transform(data.X_all))
    header = [f"code_{i + 1}" for i in range(Z.shape[1])]
    if data.y_all is not None:
        header.append(data.target_name)
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        for i, row in enumerate(Z):
            # repr: the shortest text that reads back as the same float64.
            cells = [repr(float(value)) for value in row]
            if data.y_all is not None:
                cells.append(data.y_all[i])
            writer.writerow(cells)


# ----------------------------------------------------------------------
# Tables.


def format_table(headers, rows, align):
    """A markdown table with aligned columns.

    Parameters
    ----------
    headers : list of str
    rows : list of list
        Cells are converted with ``str``.
    align : str
        One ``l`` (left) or ``r`` (right) per column.

    Returns
    -------
    str
    """
    cells = [list(headers)] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row):
        padded = (c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(row, widths, align))
        return "| " + " | ".join(padded) + " |"

    rule = "|".join(
        "-" * (w + 1) + ":" if a == "r" else ":" + "-" * (w + 1) for w, a in zip(widths, align)
    )
    return "\n".join([line(cells[0]), f"|{rule}|"] + [line(row) for row in cells[1:]])


def _models(d, common, *, with_vae):
    models = [
        ("PCA", PCA(d, random_state=common["random_state"])),
        ("AutoencoderTransformer", AutoencoderTransformer(d, **common)),
    ]
    if with_vae:
        models.append(("VAETransformer", VAETransformer(d, **common)))
    return models


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


def reconstruction_table(data, n_components, common, *, with_vae):
    """Fit PCA and the estimators at every latent dimension.

    Parameters
    ----------
    data : sklearn_ae._cli._data.Dataset
    n_components : list of int
    common : dict
        ``max_iter``, ``random_state`` and ``device`` of the estimators.
    with_vae : bool
        Whether :class:`~sklearn_ae.VAETransformer` has rows.

    Returns
    -------
    table : str
        Markdown; the accuracy column only when ``data`` has labels.
    codes : dict of str to ndarray
        Test-set codes of the 2-D models, by model name.
    models : dict of (str, int) to estimator
        The fitted models by name and latent dimension.
    """
    labelled = data.y_train is not None
    rows, codes, models = [], {}, {}
    for d in n_components:
        pca_mse = None
        for name, model in _models(d, common, with_vae=with_vae):
            seconds = _fit_timed(model, data.X_train)
            Z_test = model.transform(data.X_test)
            mse = mean_squared_error(data.X_test, model.inverse_transform(Z_test))
            if pca_mse is None:
                pca_mse = mse
            row = [d, name, f"{mse:.5f}", f"{mse / pca_mse:.3f}" if pca_mse > 0 else "-"]
            if labelled:
                Z_train = model.transform(data.X_train)
                row.append(f"{_accuracy(Z_train, data.y_train, Z_test, data.y_test):.3f}")
            rows.append(row + [f"{seconds:.2f}", _epochs(model)])
            if d == 2:
                codes[name] = Z_test
            models[name, d] = model
    headers = ["d", "method", "test MSE", "MSE / PCA"]
    if labelled:
        headers.append("LogReg accuracy")
    headers += ["fit time (s)", "epochs"]
    return format_table(headers, rows, "rl" + "r" * (len(headers) - 2)), codes, models


def density_table(data, n_components, common, *, with_vae):
    """Held-out log-likelihoods (nats per sample) of PCA, FactorAnalysis and the VAE.

    Parameters
    ----------
    data : sklearn_ae._cli._data.Dataset
    n_components : int
    common : dict
        ``max_iter``, ``random_state`` and ``device`` of the VAE.
    with_vae : bool

    Returns
    -------
    table : str
        Markdown.
    problems : list of str
        Why a linear model has no score, one line each.
    """
    X_train, X_test = data.X_density_train, data.X_density_test
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
    if with_vae:
        name = f"VAETransformer({n_components})"
        vae = VAETransformer(n_components, **common)
        seconds = _fit_timed(vae, X_train)
        epochs = _epochs(vae)
        rows.append([name, "ELBO (score)", vae.score(X_test), seconds, epochs])
        start = time.perf_counter()
        ll = vae.log_likelihood(X_test, n_samples=IWAE_SAMPLES, random_state=seed)
        seconds = time.perf_counter() - start
        quantity = f"log p(x), IWAE bound, {IWAE_SAMPLES} samples"
        rows.append([name, quantity, np.mean(ll), seconds, epochs])
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


def plot_latents(path, codes, labels, label_name=None):
    """Save the 2-D test-set codes of each model side by side.

    Parameters
    ----------
    path : str
        Where to write the PNG.
    codes : dict of str to ndarray of shape (n_samples, 2)
        Codes by model name, one panel each.
    labels : ndarray of shape (n_samples,) or None
        Class labels that colour the points; None draws one colour.
    label_name : str, default=None
        The colour bar's title.

    Returns
    -------
    written : bool
        False if matplotlib is not installed.
    """
    fig = latent_figure(codes, labels, label_name)
    if fig is None:
        return False
    fig.savefig(path, dpi=110)
    return True


def latent_figure(codes, labels, label_name=None):
    """The figure :func:`plot_latents` saves, or None without matplotlib.

    Each panel's limits keep the codes between the 0.5th and 99.5th
    percentiles of each axis in view, with a margin: a few outlying codes
    cannot squeeze the rest into a corner. The panel says how many codes it
    leaves out.

    Parameters
    ----------
    codes : dict of str to ndarray of shape (n_samples, 2)
    labels : ndarray of shape (n_samples,) or None
    label_name : str, default=None

    Returns
    -------
    matplotlib.figure.Figure or None
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    # A bare Figure on the Agg canvas: no pyplot, so no global backend change.
    fig = Figure(figsize=(4.5 * len(codes) + 1, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(codes), squeeze=False)[0]
    scatter = None
    classes = None if labels is None else np.unique(labels)
    if classes is not None:
        cmap = _class_colours(len(classes))
    for ax, (name, Z) in zip(axes, codes.items()):
        if labels is None:
            ax.scatter(Z[:, 0], Z[:, 1], s=6, color="tab:blue", alpha=0.7)
        else:
            # Colours by class index: labels may be text.
            colour = np.searchsorted(classes, labels)
            scatter = ax.scatter(
                Z[:, 0],
                Z[:, 1],
                c=colour,
                cmap=cmap,
                vmin=-0.5,
                vmax=len(classes) - 0.5,
                s=6,
                alpha=0.8,
            )
        low, high = _robust_limits(Z)
        ax.set_xlim(low[0], high[0])
        ax.set_ylim(low[1], high[1])
        outside = np.sum(np.any((Z < low) | (Z > high), axis=1))
        if outside:
            ax.text(
                0.99,
                0.01,
                f"{outside} of {len(Z)} codes outside the view",
                transform=ax.transAxes,
                ha="right",
                va="bottom",
                fontsize=8,
                color="0.4",
            )
        ax.set_title(name)
        ax.set_xlabel("component 1")
        ax.set_ylabel("component 2")
    if scatter is not None:
        colorbar = fig.colorbar(scatter, ax=list(axes), label=label_name or "class")
        if len(classes) <= 20:
            colorbar.set_ticks(range(len(classes)), labels=[str(c) for c in classes])
    fig.suptitle("2-D latent space of the test set")
    return fig


def _class_colours(n_classes):
    """A colormap of one colour per class: the first of tab10's or tab20's, else viridis.

    tab10 itself spread its 10 colours over the classes' range, so 3 classes
    got 3 far-apart colours of 10 and the colour bar showed all 10.
    """
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    for name in ("tab10", "tab20"):
        palette = colormaps[name]
        if n_classes <= palette.N:
            return ListedColormap(palette.colors[:n_classes], name=f"{name}_{n_classes}")
    return colormaps["viridis"]


def _robust_limits(Z):
    """Axis limits around the central 99% of ``Z``'s values on each axis, plus 10%."""
    low, high = np.percentile(Z, [100 * PLOT_TAIL, 100 * (1 - PLOT_TAIL)], axis=0)
    margin = 0.1 * np.maximum(high - low, 1e-12 * np.maximum(1.0, np.abs(high)))
    return low - margin, high + margin
