"""sklearn_ae._device: devices, private generators, tensor conversion, thread and FP modes."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_array_equal

from sklearn_ae._device import (
    _flushing_denormals,
    available_device,
    flush_denormals,
    make_generator,
    resolve_device,
    to_numpy,
    to_tensor,
)


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert isinstance(resolve_device("auto"), torch.device)
    with pytest.raises(ValueError, match="not a valid torch device"):
        resolve_device("gpu-please")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError):
            resolve_device("cuda")


def test_available_device_falls_back_to_the_cpu():
    assert available_device(torch.device("cpu")) == torch.device("cpu")
    if not torch.cuda.is_available():
        assert available_device(torch.device("cuda", 0)) == torch.device("cpu")


def test_make_generator_is_seeded_and_private():
    state = torch.random.get_rng_state()
    first, rng = make_generator(0, torch.device("cpu"))
    second, _ = make_generator(0, torch.device("cpu"))
    assert isinstance(rng, np.random.RandomState)
    assert torch.equal(torch.rand(5, generator=first), torch.rand(5, generator=second))
    other, _ = make_generator(1, torch.device("cpu"))
    assert first.initial_seed() != other.initial_seed()
    assert torch.equal(torch.random.get_rng_state(), state)
    # A RandomState instance advances, as scikit-learn's random_state does.
    rs = np.random.RandomState(0)
    a, _ = make_generator(rs, torch.device("cpu"))
    b, _ = make_generator(rs, torch.device("cpu"))
    assert a.initial_seed() != b.initial_seed()


def test_tensor_round_trip_keeps_values_and_dtype():
    X = np.arange(12, dtype=np.float64).reshape(3, 4) / 7
    tensor = to_tensor(X, torch.device("cpu"))
    assert tensor.dtype == torch.float32
    assert_array_equal(to_numpy(tensor), X.astype(np.float32))
    tensor = to_tensor(X, torch.device("cpu"), torch.float64)
    assert to_numpy(tensor).dtype == np.float64
    assert_array_equal(to_numpy(tensor), X)


def test_flush_denormals_restores_the_callers_mode():
    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU cannot flush subnormal floats")
    with flush_denormals():
        assert _flushing_denormals()
    assert not _flushing_denormals()
