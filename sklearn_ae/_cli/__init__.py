"""The command-line demo behind ``python -m sklearn_ae`` and ``sklearn-ae``.

It compares PCA, :class:`~sklearn_ae.AutoencoderTransformer` and
:class:`~sklearn_ae.VAETransformer` on scikit-learn's digits (or on a user's
``.npy``/``.csv`` file, with an optional label column) and prints markdown
tables that can be pasted into the README: held-out reconstruction error and
downstream accuracy per latent dimension, then held-out log-likelihoods of the
density models. It can write one model's codes for every row (``--codes``) and
the model itself (``--save-model``).

``_arguments`` parses and checks the options, ``_data`` loads and splits the
data, ``_report`` fits the models and prints the tables and the plot.
"""

import time

import torch

from ._arguments import build_parser, parse_args
from ._data import fitting_n_components, load_dataset
from ._report import print_report

__all__ = ["main"]


def main(argv=None):
    """Run the demo.

    Parameters
    ----------
    argv : list of str, default=None
        Command-line arguments; ``sys.argv[1:]`` when None.

    Returns
    -------
    status : int
        0; a bad option or data file exits with status 2 and argparse's usage message.
    """
    start = time.perf_counter()
    parser = build_parser()
    args = parse_args(parser, argv)
    torch.set_num_threads(args.threads)
    # The data are checked here, not while parsing: whether a latent dimension
    # fits depends on the file's shape.
    try:
        data = load_dataset(args.data, args.seed, args.target)
    except ValueError as exc:
        parser.error(f"--data {exc}")
    try:
        n_components, notes = fitting_n_components(
            args.n_components, data, explicit=args.explicit_n_components
        )
    except ValueError as exc:
        parser.error(str(exc))
    print_report(args, data, n_components, notes)
    print(f"\nDone in {time.perf_counter() - start:.1f} s.")
    return 0
