"""Models saved by earlier releases load and reproduce their recorded outputs.

``tests/data/v0.2.0/`` holds models written at the 0.2.0 release by
``tests/data/make_saved_models.py`` (safe files and pickles, both estimators,
two of them fitted on a pandas DataFrame) with the outputs 0.2.0 gave. Every
later version must load them and give the same outputs.
``tests/data/v0.3.0.dev0/`` holds the same models written at ab4a989, before
the fit was restructured into one object (its private fitted attributes are
part of the file format).
"""

import json
import pickle
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone

import sklearn_ae
from sklearn_ae import (
    AutoencoderTransformer,
    InconsistentVersionWarning,
    VAETransformer,
    _persistence,
    _state,
    load,
)

DATA = Path(__file__).parent / "data"
NAMES = ["ae_digits", "vae_digits", "ae_wine_frame", "vae_wine_frame"]
RELEASES = {"0.2.0": NAMES, "0.3.0.dev0": NAMES}
CASES = [(release, name) for release, names in RELEASES.items() for name in names]
CASES_020 = [(release, name) for release, name in CASES if release == "0.2.0"]


def _recorded(release, name):
    outputs = dict(np.load(DATA / f"v{release}" / f"{name}.npz"))
    params = json.loads((DATA / f"v{release}" / f"{name}.json").read_text())["params"]
    return outputs, params


def _rows(est, rows):
    if hasattr(est, "feature_names_in_"):
        return pd.DataFrame(rows, columns=est.feature_names_in_)
    return rows


def _assert_reproduces(est, recorded):
    rows = _rows(est, recorded["rows"])
    assert_array_equal(est.transform(rows), recorded["transform"])
    assert_array_equal(
        est.transform(_rows(est, recorded["rows"].astype(np.float32))),
        recorded["transform_float32"],
    )
    assert_array_equal(est.inverse_transform(recorded["transform"]), recorded["inverse_transform"])
    # The float64 squared error is summed in place since 0.2.0: the same to
    # float64 rounding, not bit for bit.
    assert_allclose(est.score_samples(rows), recorded["score_samples"], rtol=1e-12)


def _assert_same_parameters(est, params):
    got = {key: repr(value) for key, value in est.get_params().items()}
    assert {key: got[key] for key in params} == params
    # Parameters added since the release take their defaults.
    defaults = type(est)().get_params()
    assert {key: got[key] for key in got.keys() - params.keys()} == {
        key: repr(defaults[key]) for key in got.keys() - params.keys()
    }


@pytest.mark.parametrize("release, name", CASES)
def test_safe_file_of_an_earlier_release_loads_and_reproduces(release, name):
    recorded, params = _recorded(release, name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = load(DATA / f"v{release}" / f"{name}.safetensors")
    _assert_same_parameters(est, params)
    if release == "0.2.0":
        assert "n_threads" not in params and est.n_threads == "auto"
    _assert_reproduces(est, recorded)
    # An ordinary estimator afterwards: clone, refit, save again.
    assert clone(est).get_params() == est.get_params()


@pytest.mark.parametrize("release, name", CASES_020)
def test_pickle_of_an_earlier_release_warns_then_works(release, name):
    recorded, params = _recorded(release, name)
    data = (DATA / f"v{release}" / f"{name}.pkl").read_bytes()
    with pytest.warns(InconsistentVersionWarning, match=r"0\.2\.0 or earlier") as record:
        est = pickle.loads(data)
    assert record[0].message.original_version == "0.2.0 or earlier"
    assert record[0].message.current_version == sklearn_ae.__version__
    _assert_same_parameters(est, params)
    _assert_reproduces(est, recorded)
    assert clone(est).get_params() == est.get_params()


@pytest.mark.parametrize("name", NAMES)
def test_pickle_written_before_the_fit_restructuring_reproduces(name):
    recorded, params = _recorded("0.3.0.dev0", name)
    data = (DATA / "v0.3.0.dev0" / f"{name}.pkl").read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = pickle.loads(data)
    _assert_same_parameters(est, params)
    _assert_reproduces(est, recorded)


def test_pickle_of_this_version_loads_without_a_warning():
    est = AutoencoderTransformer(n_components=2, hidden_layer_sizes=(4,), max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(np.random.RandomState(0).normal(size=(40, 5)))
    state = est.__getstate__()
    assert state["_sklearn_ae_version"] == sklearn_ae.__version__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        restored = pickle.loads(pickle.dumps(est))
    assert "_sklearn_ae_version" not in restored.__dict__
    # A pickle from another version warns, as scikit-learn's own estimators do.
    state["_sklearn_ae_version"] = "0.2.1"
    with pytest.warns(InconsistentVersionWarning, match=r"pickled by sklearn-ae 0\.2\.1"):
        AutoencoderTransformer.__new__(AutoencoderTransformer).__setstate__(state)


@pytest.fixture
def saved(tmp_path):
    est = VAETransformer(n_components=2, hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(np.random.RandomState(0).normal(size=(40, 5)))
    path = tmp_path / "model.safetensors"
    est.save(path)
    return path


def test_saved_file_records_the_package_and_format_versions(saved):
    from safetensors import safe_open

    with safe_open(str(saved), framework="np") as f:
        metadata = f.metadata()
    assert metadata["sklearn_ae_version"] == sklearn_ae.__version__
    assert metadata["format_version"] == str(_persistence.FORMAT_VERSION)


def test_newer_format_version_is_refused_naming_both(saved, rewrite_saved_file):
    newer = _persistence.FORMAT_VERSION + 1

    def edit(metadata):
        metadata.update(format_version=str(newer), sklearn_ae_version="9.0.0")

    rewrite_saved_file(saved, edit_metadata=edit)
    message = (
        rf"format version {newer} \(written by sklearn-ae 9\.0\.0\); sklearn-ae "
        rf"{sklearn_ae.__version__} reads format versions up to {_persistence.FORMAT_VERSION}"
    )
    with pytest.raises(ValueError, match=message):
        load(saved)


def test_parameter_this_version_does_not_have_is_refused(saved, rewrite_saved_file):
    def edit(header, arrays):
        header["params"]["__dict__"]["momentum"] = 0.9

    rewrite_saved_file(saved, edit, lambda metadata: metadata.update(sklearn_ae_version="0.9.0"))
    with pytest.raises(ValueError, match=r"\['momentum'\].*sklearn-ae 0\.9\.0"):
        load(saved)


def test_parameter_missing_from_the_file_takes_its_default(saved, rewrite_saved_file):
    reference = load(saved)
    rewrite_saved_file(saved, lambda header, arrays: header["params"]["__dict__"].pop("beta"))
    est = load(saved)
    assert est.beta == VAETransformer().beta
    X = np.random.RandomState(1).normal(size=(10, 5))
    assert_array_equal(est.transform(X), reference.transform(X))


def test_renamed_private_state_is_migrated(saved, monkeypatch, rewrite_saved_file):
    reference = load(saved)

    def edit(header, arrays):
        state = header["state"]["__dict__"]
        state["_old_moments"] = state.pop("_moments")

    rewrite_saved_file(saved, edit)
    with pytest.raises(AttributeError):
        load(saved)._moments
    monkeypatch.setitem(_state._RENAMED_STATE, "_old_moments", "_moments")
    est = load(saved)
    assert "_old_moments" not in est.__dict__
    assert repr(est._moments) == repr(reference._moments)
