"""The demo's command-line options.

Every option is checked while it is parsed: each ``type=`` function below
returns the parsed value or raises :class:`argparse.ArgumentTypeError`, whose
message argparse prints after the option's name with the usage line, before
any data are loaded or any model is fitted.
"""

import argparse
import os

from .. import __version__
from .._device import resolve_device

DEFAULT_N_COMPONENTS = (2, 8, 16)
QUICK_N_COMPONENTS = (2, 8)
DEFAULT_MAX_ITER = 200
QUICK_MAX_ITER = 20
# np.random.RandomState, behind train_test_split and the dequantization noise,
# takes 32-bit seeds only.
_MAX_SEED = 2**32 - 1


def positive_int(text):
    """``type=`` of counts: an integer of at least 1."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def seed(text):
    """``type=`` of ``--seed``: an integer that numpy's ``RandomState`` accepts."""
    value = _int(text)
    if not 0 <= value <= _MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2**32 - 1, got {value}")
    return value


def device(text):
    """``type=`` of ``--device``: the text as given, once it resolves to an available device.

    The estimators take the text (``"auto"``, ``"cpu"``, ...), as a user
    would write it: a :class:`torch.device` showed in a saved model's repr
    as ``device=device(type='cpu')``.
    """
    try:
        resolve_device(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def output_path(text):
    """``type=`` of ``--plot``, ``--codes`` and ``--save-model``: a path whose directory exists.

    Checked before the fits, so that a typo does not lose the output at the end.
    """
    parent = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(parent):
        raise argparse.ArgumentTypeError(f"{text}: directory {parent} does not exist")
    return text


def _int(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def build_parser():
    """The demo's argument parser.

    Returns
    -------
    argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(
        prog="sklearn-ae",
        description=(
            "Compare PCA, AutoencoderTransformer and VAETransformer: held-out reconstruction "
            "error, downstream logistic-regression accuracy on the codes, fit time, and the "
            "held-out log-likelihood of the density models. Uses scikit-learn's digits "
            "unless --data is given. Tables are printed in markdown."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--data",
        metavar="FILE",
        help=(
            "a numeric 2-D .npy or .csv file (rows are samples) to use instead of the digits; "
            "a first CSV row of column names is recognised as a header. Columns are scaled to "
            "[0, 1] by a MinMaxScaler fitted on the training split. Without --target there "
            "are no labels, so the accuracy column is left out."
        ),
    )
    parser.add_argument(
        "--target",
        metavar="COL",
        help=(
            "the column of --data that holds class labels (its header name, or its number "
            "counted from 1): it is left out of the features and the accuracy column is "
            "reported. Labels may be text or integers."
        ),
    )
    parser.add_argument(
        "--n-components",
        type=positive_int,
        nargs="+",
        metavar="D",
        help=(
            "latent dimensions to compare (default: 2 8 16; with --quick: 2 8). The 2-D models "
            "are the ones plotted."
        ),
    )
    parser.add_argument(
        "--max-iter",
        type=positive_int,
        metavar="N",
        help=(
            f"maximum training epochs of the neural models (default: {DEFAULT_MAX_ITER}; "
            f"with --quick: {QUICK_MAX_ITER})"
        ),
    )
    parser.add_argument(
        "--device",
        type=device,
        default="auto",
        help="torch device for the neural models: auto, cpu, cuda, cuda:N or mps (default: auto)",
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
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
        type=seed,
        default=0,
        help=(
            "random_state of the train/test split, the dequantization noise and every "
            "estimator (default: 0)"
        ),
    )
    parser.add_argument(
        "--plot",
        type=output_path,
        default="sklearn_ae_demo.png",
        metavar="PATH",
        help=(
            "where to write the PNG of the 2-D latent spaces of the test set "
            "(default: sklearn_ae_demo.png in the current directory; needs matplotlib)"
        ),
    )
    parser.add_argument("--no-plot", action="store_true", help="do not write the plot")
    parser.add_argument(
        "--model",
        choices=["autoencoder", "vae"],
        default="autoencoder",
        help=(
            "the estimator whose codes --codes writes and that --save-model saves, fitted at "
            "the first --n-components dimension on the training split (default: autoencoder)"
        ),
    )
    parser.add_argument(
        "--codes",
        type=output_path,
        metavar="PATH",
        help=(
            "write the codes of --model for every row of the data, in file order, as CSV: "
            "columns code_1 ... code_d, then the labels' column if there is one"
        ),
    )
    parser.add_argument(
        "--save-model",
        type=output_path,
        metavar="PATH",
        help=(
            "save --model with its scaling as a scikit-learn Pipeline with joblib: "
            "joblib.load(PATH).transform(rows) maps rows as in the file (the --target "
            "column left out) to codes"
        ),
    )
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


def parse_args(parser, argv=None):
    """Parse ``argv`` and fill in the defaults that depend on ``--quick``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        From :func:`build_parser`.
    argv : list of str, default=None
        ``sys.argv[1:]`` when None.

    Returns
    -------
    args : argparse.Namespace
        ``max_iter`` and ``n_components`` are always set, the latter without
        repeats; ``explicit_n_components`` records whether it was given.
        ``device`` is the :class:`torch.device` the models run on and
        ``device_param`` the estimators' ``device`` parameter, as given.
    """
    args = parser.parse_args(argv)
    if args.target is not None and args.data is None:
        parser.error("--target names a column of --data; the digits have their labels already")
    if args.model == "vae" and args.no_vae:
        parser.error("--model vae needs the VAE: leave out --no-vae")
    args.explicit_n_components = args.n_components is not None
    if args.n_components is None:
        args.n_components = QUICK_N_COMPONENTS if args.quick else DEFAULT_N_COMPONENTS
    args.n_components = list(dict.fromkeys(args.n_components))
    if args.max_iter is None:
        args.max_iter = QUICK_MAX_ITER if args.quick else DEFAULT_MAX_ITER
    args.device_param, args.device = args.device, resolve_device(args.device)
    return args
