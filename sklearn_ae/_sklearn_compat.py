"""Every private scikit-learn name the package uses, imported in this one file.

``_fit_context``, the parameter-constraint classes and the ``set_output``
machinery live in private scikit-learn modules that a release may move or
change; importing them here alone (as imbalanced-learn's
``utils/_sklearn_compat.py`` does) means such a release breaks one file.
:func:`warn_at_caller` points the package's warnings at the user's line,
past scikit-learn's wrappers.
"""

import os
import sys
import warnings

from sklearn.base import _fit_context
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    StrOptions,
    validate_params,
)
from sklearn.utils._set_output import ADAPTERS_MANAGER, _get_output_config

__all__ = [
    "ADAPTERS_MANAGER",
    "Interval",
    "InvalidParameterError",
    "StrOptions",
    "_fit_context",
    "_get_output_config",
    "validate_params",
    "warn_at_caller",
]


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# scikit-learn's _fit_context wraps fit and partial_fit: its frame is not the caller's.
_WRAPPER_FILES = (os.path.join("sklearn", "base.py"),)


def warn_at_caller(message, category):
    """Warn with a ``stacklevel`` that points at the first frame outside this package.

    A fixed ``stacklevel`` would point at a line of the package whose depth
    depends on the path (``fit``, ``partial_fit``, a warm start), so the
    warning named ``_base.py`` instead of the line that called ``fit``.
    Frames of scikit-learn's ``_fit_context`` wrapper are skipped too.
    """
    level, frame = 2, sys._getframe(1)  # stacklevel=2 is the frame that called this
    while frame is not None and (
        os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR)
        or frame.f_code.co_filename.endswith(_WRAPPER_FILES)
    ):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
