"""ONNX export: skl2onnx converters for both estimators, and :func:`to_onnx`.

The converters write ``transform`` as plain ONNX operators read from the
fitted weights: the standardization, the encoder's affine path and its
residual MLP, and the model's head (the AE's latent scale, the VAE's posterior
mean). Once :func:`register_converters` has run, :func:`skl2onnx.to_onnx`
converts any pipeline that holds one of the estimators; :func:`to_onnx`
converts a fitted estimator on its own.

onnx and skl2onnx are an optional extra (the ``onnx`` extra: ``pip install '.[onnx]'``
from a clone, or ``pip install onnx onnxruntime skl2onnx``):
they are imported only when a function here is called, so importing this
module costs nothing without them.
"""

import math
from dataclasses import dataclass

import numpy as np
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._modules import ResidualMap

# Estimator class -> skl2onnx operator type name (the "Sklearn" prefix follows
# skl2onnx's own converters). The estimator modules add their classes with
# @exportable: this module reads estimators by their attributes and imports none.
_ALIASES = {}


def exportable(cls):
    """Class decorator: the converters handle ``cls`` (see :func:`register_converters`)."""
    _ALIASES[cls] = f"SklearnAE{cls.__name__}"
    return cls


def _import_skl2onnx():
    try:
        import onnx  # noqa: F401
        import skl2onnx
    except ImportError as exc:
        raise ImportError(
            "ONNX export needs the optional packages onnx and skl2onnx (and onnxruntime "
            "to run the exported models); install them with: pip install onnx onnxruntime "
            "skl2onnx (the 'onnx' extra of sklearn-ae)"
        ) from exc
    return skl2onnx


# ----------------------------------------------------------------------
# The transform as arrays: what the converter writes, read from the fitted module.


@dataclass(frozen=True)
class _Affine:
    """``x @ weight.T + bias``, torch's ``nn.Linear`` layout."""

    weight: np.ndarray
    bias: np.ndarray


@dataclass(frozen=True)
class _Activation:
    """An elementwise nonlinearity: an ONNX operator and its attributes, or the exact GELU."""

    op_type: str
    attributes: dict


@dataclass(frozen=True)
class _TransformGraph:
    """``transform(x) = (affine(xs) + residual(clip(xs))) * output_scale``.

    ``xs = (x - mean) / scale``; ``clip`` bounds the branch's inputs to
    ``[input_low, input_high]``, the box of the training inputs. ``residual``
    is empty when the encoder has no branch; ``output_scale`` is None when
    the head does not rescale.
    """

    mean: np.ndarray
    scale: np.ndarray
    affine: _Affine
    residual: tuple
    output_scale: np.ndarray | None
    input_low: np.ndarray
    input_high: np.ndarray


def _activation(layer):
    """The :class:`_Activation` of a torch activation layer; None for ``nn.Identity``."""
    if isinstance(layer, nn.Identity):
        return None
    if isinstance(layer, nn.ReLU):
        return _Activation("Relu", {})
    if isinstance(layer, nn.Tanh):
        return _Activation("Tanh", {})
    if isinstance(layer, nn.Sigmoid):
        return _Activation("Sigmoid", {})
    if isinstance(layer, nn.ELU):
        return _Activation("Elu", {"alpha": float(layer.alpha)})
    if isinstance(layer, nn.LeakyReLU):
        return _Activation("LeakyRelu", {"alpha": float(layer.negative_slope)})
    if isinstance(layer, nn.GELU) and layer.approximate == "none":
        # ONNX's Gelu operator needs opset 20; the erf form is the same
        # function (torch's default GELU) in every opset.
        return _Activation("GeluErf", {})
    raise NotImplementedError(
        f"ONNX export does not support the layer {layer!r} in the encoder's residual branch."
    )


def _affine(layer, n_outputs=None):
    """The :class:`_Affine` of an ``nn.Linear``, keeping its first ``n_outputs`` outputs."""
    weight = layer.weight.detach().cpu().numpy()
    bias = layer.bias.detach().cpu().numpy()
    return _Affine(weight[:n_outputs], bias[:n_outputs])


def _transform_graph(estimator):
    """Read the fitted ``transform`` of ``estimator`` into a :class:`_TransformGraph`.

    Raises
    ------
    TypeError
        If ``estimator`` is not one of this package's estimators.
    sklearn.exceptions.NotFittedError
        If it is not fitted.
    NotImplementedError
        If its encoder is not the built-in :class:`~sklearn_ae._modules.ResidualMap`.
    """
    if not isinstance(estimator, tuple(_ALIASES)):
        raise TypeError(
            "Expected an AutoencoderTransformer or a VAETransformer; got "
            f"{type(estimator).__name__}."
        )
    check_is_fitted(estimator)
    name = type(estimator).__name__
    encoder = getattr(estimator.module_, "encoder", None)
    # An exact type check: a subclass may override forward, which the graph
    # below would silently ignore.
    if type(encoder) is not ResidualMap or encoder.adapter is not None:
        raise NotImplementedError(
            f"{name}'s encoder is a custom module ({type(encoder).__name__}); ONNX export "
            "covers only the built-in network (sklearn_ae._modules.ResidualMap). Export a "
            "custom module with torch.onnx.export instead."
        )
    # transform is the encoder's first n_components_ outputs (all of the
    # autoencoder's; the VAE's posterior mean, before its log-variances),
    # times the module's latent_scale where it has one (the autoencoder).
    # Every output has its own row in the last layers, so dropping the
    # log-variance rows leaves the mean unchanged and skips computing it.
    n_outputs = estimator.n_components_
    latent_scale = getattr(estimator.module_, "latent_scale", None)
    output_scale = None if latent_scale is None else latent_scale.detach().cpu().numpy()
    residual = []
    layers = [] if encoder.residual is None else list(encoder.residual)
    for i, layer in enumerate(layers):
        if isinstance(layer, nn.Linear):
            last = i == len(layers) - 1
            residual.append(_affine(layer, n_outputs if last else None))
        else:
            activation = _activation(layer)
            if activation is not None:
                residual.append(activation)
    if layers and not isinstance(layers[-1], nn.Linear):
        raise NotImplementedError(
            f"{name}'s residual branch does not end in a linear layer; ONNX export covers "
            "only the built-in network."
        )
    return _TransformGraph(
        mean=np.asarray(estimator.mean_),
        scale=np.asarray(estimator.scale_),
        affine=_affine(encoder.linear, n_outputs),
        residual=tuple(residual),
        output_scale=output_scale,
        input_low=encoder.input_low.detach().cpu().numpy(),
        input_high=encoder.input_high.detach().cpu().numpy(),
    )


# ----------------------------------------------------------------------
# skl2onnx shape calculator and converter.


class _GraphWriter:
    """Adds nodes and constants of one dtype to a skl2onnx container, with unique names."""

    def __init__(self, scope, container, dtype, prefix):
        from onnx.helper import np_dtype_to_tensor_dtype

        self.scope = scope
        self.container = container
        self.dtype = np.dtype(dtype)
        self.proto_type = np_dtype_to_tensor_dtype(self.dtype)
        self.prefix = prefix

    def constant(self, value, label):
        from onnx import numpy_helper

        name = self.scope.get_unique_variable_name(f"{self.prefix}_{label}")
        array = np.asarray(value, dtype=self.dtype)
        tensor = numpy_helper.from_array(array, name)
        self.container.add_initializer(name, self.proto_type, list(array.shape), tensor)
        return name

    def node(self, op_type, inputs, output=None, **attributes):
        if output is None:
            output = self.scope.get_unique_variable_name(f"{self.prefix}_{op_type.lower()}")
        self.container.add_node(
            op_type,
            list(inputs),
            [output],
            name=self.scope.get_unique_operator_name(f"{self.prefix}_{op_type}"),
            **attributes,
        )
        return output

    def affine(self, x, affine, label):
        weight = self.constant(affine.weight, f"{label}_weight")
        bias = self.constant(affine.bias, f"{label}_bias")
        # Gemm with transB reads torch's (out, in) weight layout as is.
        return self.node("Gemm", [x, weight, bias], transB=1)

    def activation(self, x, activation):
        if activation.op_type != "GeluErf":
            return self.node(activation.op_type, [x], **activation.attributes)
        # torch's exact GELU: x * 0.5 * (1 + erf(x / sqrt(2))).
        erf = self.node("Erf", [self.node("Mul", [x, self.constant(math.sqrt(0.5), "rsqrt2")])])
        one_plus = self.node("Add", [erf, self.constant(1.0, "one")])
        return self.node("Mul", [self.node("Mul", [x, one_plus]), self.constant(0.5, "half")])


def _calculate_output_shapes(operator):
    """skl2onnx shape calculator: ``[N, n_features_in_] -> [N, n_components_]``, same dtype."""
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
    from skl2onnx.common.utils import (
        check_input_and_output_numbers,
        check_input_and_output_types,
    )

    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=1)
    check_input_and_output_types(operator, good_input_types=[FloatTensorType, DoubleTensorType])
    estimator = operator.raw_operator
    check_is_fitted(estimator)
    input_type = operator.inputs[0].type
    n_columns = operator.inputs[0].get_second_dimension()
    if isinstance(n_columns, int) and n_columns != estimator.n_features_in_:
        raise ValueError(
            f"The ONNX input has {n_columns} features, but {type(estimator).__name__} is "
            f"expecting {estimator.n_features_in_} features as input."
        )
    n_rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = type(input_type)([n_rows, estimator.n_components_])


def _convert(scope, operator, container):
    """skl2onnx converter: write the estimator's ``transform`` as ONNX nodes."""
    from skl2onnx.common.data_types import guess_numpy_type

    graph = _transform_graph(operator.raw_operator)
    write = _GraphWriter(
        scope, container, guess_numpy_type(operator.inputs[0].type), prefix=operator.full_name
    )
    x = operator.inputs[0].full_name
    centered = write.node("Sub", [x, write.constant(graph.mean, "mean")])
    xs = write.node("Div", [centered, write.constant(graph.scale, "scale")])
    out = write.affine(xs, graph.affine, "linear")
    if graph.residual:
        # Per-feature bounds, so Max and Min (Clip takes scalars only).
        h = write.node("Max", [xs, write.constant(graph.input_low, "input_low")])
        h = write.node("Min", [h, write.constant(graph.input_high, "input_high")])
        for i, step in enumerate(graph.residual):
            if isinstance(step, _Affine):
                h = write.affine(h, step, f"residual{i}")
            else:
                h = write.activation(h, step)
        out = write.node("Add", [out, h])
    if graph.output_scale is not None:
        out = write.node("Mul", [out, write.constant(graph.output_scale, "latent_scale")])
    write.node("Identity", [out], output=operator.outputs[0].full_name)


# ----------------------------------------------------------------------
# Public functions.


def register_converters():
    """Register the skl2onnx converters of both estimators.

    Afterwards :func:`skl2onnx.to_onnx` converts any pipeline that holds an
    :class:`~sklearn_ae.AutoencoderTransformer` or a
    :class:`~sklearn_ae.VAETransformer` (fitted, with their built-in
    networks); each becomes its ``transform``. Calling it again does nothing
    new.

    Raises
    ------
    ImportError
        If onnx or skl2onnx is not installed (``pip install onnx onnxruntime skl2onnx``).
    """
    skl2onnx = _import_skl2onnx()
    for estimator_class, alias in _ALIASES.items():
        skl2onnx.update_registered_converter(
            estimator_class,
            alias,
            _calculate_output_shapes,
            _convert,
            overwrite=True,
        )


def to_onnx(estimator, path=None, *, target_opset=None):
    """Convert a fitted estimator's ``transform`` to an ONNX model.

    The model takes raw float32 rows (input ``"X"``, shape ``(N,
    n_features_in_)`` with any ``N``) and returns the latent codes (output
    ``"Z"``, shape ``(N, n_components_)``), standardization included; it
    equals ``estimator.transform(X.astype(np.float32))`` to float32 rounding.
    To convert a whole pipeline, call :func:`register_converters` and then
    :func:`skl2onnx.to_onnx` on the pipeline.

    Parameters
    ----------
    estimator : AutoencoderTransformer or VAETransformer
        A fitted estimator with its built-in encoder network.
    path : str or path-like, default=None
        Where to save the model; None saves nothing.
    target_opset : int, default=None
        ONNX opset of the model; None takes the newest that skl2onnx
        supports.

    Returns
    -------
    model : onnx.ModelProto
        The converted model.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.
    NotImplementedError
        If its encoder is a custom module rather than the built-in network.
    ImportError
        If onnx or skl2onnx is not installed (``pip install onnx onnxruntime skl2onnx``).

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime as ort
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_ae import AutoencoderTransformer
    >>> from sklearn_ae._export import to_onnx
    >>> X = load_digits().data.astype(np.float32)
    >>> ae = AutoencoderTransformer(n_components=4, max_iter=20, tol=10.0, random_state=0,
    ...                             device="cpu").fit(X)
    >>> session = ort.InferenceSession(to_onnx(ae).SerializeToString())
    >>> Z = session.run(None, {"X": X[:5]})[0]
    >>> bool(np.allclose(Z, ae.transform(X[:5]), rtol=1e-4, atol=1e-5))
    True
    """
    # Validate first: these errors need neither onnx nor skl2onnx.
    _transform_graph(estimator)
    skl2onnx = _import_skl2onnx()
    import onnx
    from skl2onnx.common.data_types import FloatTensorType

    register_converters()
    model = skl2onnx.to_onnx(
        estimator,
        initial_types=[("X", FloatTensorType([None, estimator.n_features_in_]))],
        # A typed final output would add a Cast; None adds an Identity, optimised away.
        final_types=[("Z", None)],
        target_opset=target_opset,
    )
    if path is not None:
        onnx.save_model(model, path)
    return model
