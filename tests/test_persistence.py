"""Persistence: device-free pickles, safe model files (save/load) and skops."""

import os
import pickle
import stat
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_ae import AutoencoderTransformer, VAETransformer, load

ESTIMATORS = [AutoencoderTransformer, VAETransformer]
FAST = {"hidden_layer_sizes": (16,), "max_iter": 5, "tol": 0.0, "random_state": 0}


@pytest.fixture(scope="module")
def X():
    return np.random.RandomState(0).normal(size=(80, 6))


def _fit(cls, X, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cls(**{**FAST, **params}).fit(X)


def _outputs(est, X):
    outputs = [est.transform(X), est.score_samples(X), est.inverse_transform(est.transform(X))]
    outputs.append(est.transform(X.astype(np.float32)))
    if isinstance(est, VAETransformer):
        outputs.append(est.sample(4, random_state=0))
    return outputs


def _assert_same_outputs(a, b, X):
    for left, right in zip(_outputs(a, X), _outputs(b, X)):
        assert_array_equal(left, right)


def _torch_objects(obj, path="state"):
    """Paths of every torch object inside a nested structure."""
    if isinstance(obj, (torch.Tensor, torch.nn.Module, torch.optim.Optimizer, torch.Generator)):
        return [path]
    if isinstance(obj, torch.device):
        return [path]
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in _torch_objects(v, f"{path}.{k}")]
    if isinstance(obj, (list, tuple)):
        return [p for i, v in enumerate(obj) for p in _torch_objects(v, f"{path}[{i}]")]
    return []


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_pickled_state_holds_no_torch_object(cls, X):
    # No tensor, module, optimizer or generator: a pickle made on a GPU holds
    # no CUDA storage, and skops can vet every type.
    est = _fit(cls, X)
    state = est.__getstate__()
    assert _torch_objects(state) == []
    assert set(state["module_"]) == set(est.module_.state_dict())
    assert state["_optimizer"]["state_dict"]["state"]  # Adam's moments travel too


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_model_pickled_on_a_missing_gpu_loads_on_the_cpu(cls, X, monkeypatch):
    est = _fit(cls, X)
    state = est.__getstate__()
    state["device_"] = "cuda:0"
    state["_generator"]["device"] = "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    restored = cls.__new__(cls)
    restored.__setstate__(state)
    assert restored.device_ == torch.device("cpu")
    assert all(p.device.type == "cpu" for p in restored.module_.parameters())
    # A CUDA generator's state cannot seed a CPU one: it restarts from its seed.
    assert restored._generator.initial_seed() == est._generator.initial_seed()
    assert_array_equal(restored.transform(X), est.transform(X))


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_pickle_round_trip_across_torch_thread_settings(cls, X):
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        est = _fit(cls, X)
        payload = pickle.dumps(est)
        torch.set_num_threads(1)
        restored = pickle.loads(payload)
    finally:
        torch.set_num_threads(threads)
    _assert_same_outputs(restored, est, X)


_LOAD_IN_FRESH_PROCESS = textwrap.dedent(
    """
    import pickle, sys
    import numpy as np
    with open(sys.argv[1], "rb") as f:
        est = pickle.load(f)
    X = np.load(sys.argv[2])
    np.save(sys.argv[3], est.transform(X))
    """
)


def test_pickle_loads_in_a_fresh_process(X, tmp_path):
    est = _fit(VAETransformer, X)
    model, data, out = tmp_path / "m.pkl", tmp_path / "X.npy", tmp_path / "Z.npy"
    model.write_bytes(pickle.dumps(est))
    np.save(data, X)
    subprocess.run([sys.executable, "-c", _LOAD_IN_FRESH_PROCESS, model, data, out], check=True)
    assert_array_equal(np.load(out), est.transform(X))


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_save_load_round_trip(cls, X, tmp_path):
    est = _fit(cls, X, random_state=np.random.RandomState(1))
    path = tmp_path / "model.safetensors"
    est.save(path)
    restored = load(path)
    assert type(restored) is cls
    _assert_same_outputs(restored, est, X)
    assert restored.loss_curve_ == est.loss_curve_
    assert restored.get_params().keys() == est.get_params().keys()
    # Optimizer state and generator position travel: training continues identically.
    est.partial_fit(X)
    restored.partial_fit(X)
    assert_allclose(restored.transform(X), est.transform(X), rtol=1e-6)


def test_save_load_unfitted(tmp_path):
    est = VAETransformer(n_components=3, hidden_layer_sizes=(7, 5), beta=0.5)
    est.save(tmp_path / "m")
    restored = load(tmp_path / "m")
    assert restored.get_params() == est.get_params()
    assert not hasattr(restored, "module_")


def test_save_refuses_values_json_cannot_hold(tmp_path):
    est = AutoencoderTransformer(hidden_layer_sizes=(4,), device=object())
    with pytest.raises(TypeError, match="params.device"):
        est.save(tmp_path / "m")
    assert not (tmp_path / "m").exists()


class _Payload:
    """Unpickling this creates a marker file: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_payload_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps(_Payload(str(marker))))
    with pytest.raises(ValueError, match="not a readable sklearn-ae model file"):
        load(path)
    assert not marker.exists()
    # torch.save writes a zip of pickles: refused too.
    torch.save({"x": _Payload(str(marker))}, path)
    with pytest.raises(ValueError, match="sklearn-ae model file"):
        load(path)
    assert not marker.exists()


@pytest.fixture
def saved(X, tmp_path):
    path = tmp_path / "model.safetensors"
    _fit(AutoencoderTransformer, X).save(path)
    return path


def test_truncated_file_is_refused(saved):
    data = saved.read_bytes()
    for size in (0, 7, len(data) // 2, len(data) - 1):
        saved.write_bytes(data[:size])
        with pytest.raises(ValueError, match="not a readable sklearn-ae model file"):
            load(saved)


def test_corrupted_weights_are_refused(saved):
    data = bytearray(saved.read_bytes())
    data[-3] ^= 0xFF  # inside the last tensor's bytes
    saved.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupted"):
        load(saved)


def test_parameters_the_class_does_not_have_are_refused(saved, rewrite_saved_file):
    # A missing parameter takes its default (tests/test_saved_models.py); one
    # the class does not know cannot be honoured.
    rewrite_saved_file(saved, lambda h, a: h["params"]["__dict__"].update(sinusoid=1))
    with pytest.raises(ValueError, match=r"parameters \['sinusoid'\]"):
        load(saved)


def test_invalid_parameter_values_are_refused(saved, rewrite_saved_file):
    def edit(header, arrays):
        header["params"]["__dict__"]["activation"] = "sinusoid"

    rewrite_saved_file(saved, edit)
    with pytest.raises(ValueError, match="activation"):
        load(saved)


def test_tensor_shapes_that_do_not_match_are_refused(saved, rewrite_saved_file):
    def edit(header, arrays):
        name = header["state"]["__dict__"]["module_"]["__dict__"]["encoder.linear.weight"]
        arrays[name["__array__"]] = arrays[name["__array__"]][:, :-1].copy()

    rewrite_saved_file(saved, edit)
    with pytest.raises(ValueError, match="do not match the network"):
        load(saved)


def test_unknown_class_is_refused(saved, rewrite_saved_file):
    rewrite_saved_file(saved, lambda h, a: h.update({"class": "os.system"}))
    with pytest.raises(ValueError, match="invalid header"):
        load(saved)


def test_saved_gpu_model_loads_on_the_cpu(saved, X, monkeypatch, rewrite_saved_file):
    reference = load(saved).transform(X)

    def edit(header, arrays):
        state = header["state"]["__dict__"]
        state["device_"] = "cuda:0"
        state["_generator"]["__dict__"]["device"] = "cuda"

    rewrite_saved_file(saved, edit)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    restored = load(saved)
    assert restored.device_ == torch.device("cpu")
    assert_array_equal(restored.transform(X), reference)


def test_failed_save_keeps_the_previous_file(saved, X, monkeypatch):
    before = saved.read_bytes()
    import safetensors.numpy

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.numpy, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        _fit(AutoencoderTransformer, X, random_state=5).save(saved)
    assert saved.read_bytes() == before


def test_failed_write_leaves_no_partial_file(saved, X, monkeypatch):
    before = saved.read_bytes()
    import builtins

    real_open = builtins.open

    class FullDisk:
        def __init__(self, file):
            self.file = file

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

        def write(self, data):
            self.file.write(data[: len(data) // 2])
            raise OSError("disk full")

    def opener(path, mode="r", *args, **kwargs):
        file = real_open(path, mode, *args, **kwargs)
        return FullDisk(file) if str(path).endswith(".partial") else file

    monkeypatch.setattr(builtins, "open", opener)
    with pytest.raises(OSError, match="disk full"):
        _fit(AutoencoderTransformer, X, random_state=5).save(saved)
    monkeypatch.undo()
    assert saved.read_bytes() == before
    assert sorted(p.name for p in saved.parent.iterdir()) == [saved.name]


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_saved_file_has_the_usual_permissions(X, tmp_path, umask):
    # safetensors' own save_file creates 0600 files whatever the umask.
    previous = os.umask(umask)
    try:
        _fit(AutoencoderTransformer, X).save(tmp_path / "model.safetensors")
        with open(tmp_path / "reference", "w"):
            pass
    finally:
        os.umask(previous)
    mode = stat.S_IMODE((tmp_path / "model.safetensors").stat().st_mode)
    assert mode == 0o666 & ~umask
    assert mode == stat.S_IMODE((tmp_path / "reference").stat().st_mode)


def _frame(library, X):
    columns = [f"feature {i}" for i in range(X.shape[1])]
    if library == "pandas":
        return pytest.importorskip("pandas").DataFrame(X, columns=columns)
    return pytest.importorskip("polars").DataFrame(X, schema=columns)


@pytest.mark.parametrize("library", ["pandas", "polars"])
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_save_load_round_trip_of_a_model_fitted_on_a_data_frame(cls, library, X, tmp_path):
    frame = _frame(library, X)
    est = _fit(cls, frame)
    path = tmp_path / "model.safetensors"
    est.save(path)
    restored = load(path)
    assert_array_equal(restored.transform(frame), est.transform(frame))
    assert_array_equal(restored.score_samples(frame), est.score_samples(frame))
    names = restored.feature_names_in_
    assert isinstance(names, np.ndarray) and names.dtype == object
    assert all(type(name) is str for name in names)
    assert_array_equal(names, est.feature_names_in_)
    assert_array_equal(restored.get_feature_names_out(), est.get_feature_names_out())
    # The names are checked as before: a frame with other columns is refused.
    if library == "pandas":
        renamed = frame.rename(columns={"feature 0": "other"})
    else:
        renamed = frame.rename({"feature 0": "other"})
    with pytest.raises(ValueError, match="feature names"):
        restored.transform(renamed)


def test_save_refuses_object_arrays_other_than_names(X, tmp_path):
    est = _fit(AutoencoderTransformer, X)
    est.extra_ = np.array([1, "a"], dtype=object)
    with pytest.raises(TypeError, match="state.extra_: object arrays"):
        est.save(tmp_path / "m")


@pytest.mark.parametrize("module", ["safetensors", "safetensors.numpy"])
def test_missing_safetensors_names_what_to_install(saved, X, tmp_path, monkeypatch, module):
    # None in sys.modules makes importing that name raise ImportError, as in
    # an environment without the package.
    monkeypatch.setitem(sys.modules, module, None)
    est = _fit(AutoencoderTransformer, X)
    for call in (lambda: est.save(tmp_path / "m"), lambda: load(saved)):
        with pytest.raises(ImportError, match=r"pip install safetensors \(the 'safe' extra"):
            call()


def test_safetensors_is_a_dependency():
    # save and load work after a plain `pip install .`: no extra needed.
    tomllib = pytest.importorskip("tomllib")
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    assert any(dep.startswith("safetensors") for dep in dependencies)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_skops_round_trip_of_estimator_and_pipeline(cls, X):
    sio = pytest.importorskip("skops.io")
    est = _fit(cls, X)
    pipe = make_pipeline(StandardScaler(), cls(**FAST))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X)
    for model in (est, pipe):
        data = sio.dumps(model)
        untrusted = sio.get_untrusted_types(data=data)
        assert untrusted == [f"{cls.__module__}.{cls.__name__}"]
        restored = sio.loads(data, trusted=untrusted)
        assert_array_equal(restored.transform(X), model.transform(X))
