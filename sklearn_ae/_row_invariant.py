"""Inference copies of a network whose rows do not depend on their batch.

:func:`row_invariant` clones a fitted network, sharing its parameters, with
every ``nn.Linear`` replaced by a :class:`RowInvariantLinear`; batched
inference (:mod:`sklearn_ae._inference`) runs that copy. :func:`state_fingerprint`
tells whether a network still holds the weights it was given (its linear start).
"""

import copy
import hashlib

import torch
from torch import nn

# Inner dimension of one matrix product in RowInvariantLinear: wider inputs are
# summed over column blocks of this width in a fixed order. Past about 512,
# the CPU BLAS splits the inner dimension in ways that depend on the row count.
ROW_INVARIANT_BLOCK = 256


class RowInvariantLinear(nn.Module):
    """``linear``'s affine map, each row's result independent of the other rows.

    ``F.linear`` on the CPU gives a row results that differ in the last bits
    with the number of rows it is computed with: the BLAS picks a
    matrix-vector kernel for one row (or one output) and other kernels and
    blockings for other row counts. scikit-learn's contract (and a user
    scoring in chunks) needs a row's output not to depend on its batch.
    Computed as ``x @ W.T`` with ``W.T`` contiguous, at least two rows and two
    outputs (one is doubled), and the inner dimension summed in blocks of
    :data:`ROW_INVARIANT_BLOCK` columns in a fixed order, the float32 product
    is the same for any number of rows (``tests/test_row_invariance.py``
    checks it). For inference: with gradients enabled, or off the CPU, it
    is ``linear`` itself.

    Parameters
    ----------
    linear : torch.nn.Linear
        The layer, shared: its parameters are this module's, and the
        transposed copy of its weight is redone whenever the weight changes
        in place, so the fitted network and this one never disagree.
    """

    def __init__(self, linear):
        super().__init__()
        # A submodule, so parameters() and state_dict() are the fitted layer's;
        # the forward pass reads plain attributes instead: nn.Module's lookup
        # costs about 1 us each, a tenth of a one-row forward pass.
        self.linear = linear
        self.__dict__.update(
            _linear=linear,
            _weight=linear.weight,
            _bias=linear.bias,
            _n_out=linear.out_features,
            _transposed=None,
            _version=None,
        )

    def _weight_t(self):
        """``W.T``, contiguous, at least two columns; redone when W changes in place."""
        weight = self._weight
        try:
            version = weight._version
        except RuntimeError:
            # An inference tensor keeps no version counter: never cached.
            version = None
        if self._transposed is None or version is None or version != self._version:
            weight_t = weight.detach().T
            if weight_t.shape[1] == 1:
                weight_t = torch.cat((weight_t, weight_t), dim=1)
            self._transposed, self._version = weight_t.contiguous(), version
        return self._transposed

    def forward(self, x):
        if torch.is_grad_enabled() or x.device.type != "cpu" or x.dim() != 2:
            return self._linear(x)
        weight_t, bias = self._weight_t(), self._bias
        rows, n_in = x.shape
        if rows == 1:
            x = torch.cat((x, x))
        if n_in <= ROW_INVARIANT_BLOCK:
            out = torch.mm(x, weight_t) if bias is None else torch.addmm(bias, x, weight_t)
        else:
            out = torch.mm(x[:, :ROW_INVARIANT_BLOCK], weight_t[:ROW_INVARIANT_BLOCK])
            for start in range(ROW_INVARIANT_BLOCK, n_in, ROW_INVARIANT_BLOCK):
                block = slice(start, start + ROW_INVARIANT_BLOCK)
                out += torch.mm(x[:, block], weight_t[block])
            if bias is not None:
                out += bias
        if rows == 1:
            out = out[:1]
        if self._n_out == 1:
            out = out[:, :1]
        return out


def state_fingerprint(module):
    """A digest of every parameter and buffer of ``module``: equal digests, equal networks."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def row_invariant(module):
    """``module`` with every ``nn.Linear`` in it computed by :class:`RowInvariantLinear`.

    The returned module shares ``module``'s parameters and buffers (a change
    to the fitted network shows in it); only the tree of submodules is new.
    """
    if isinstance(module, nn.Linear):
        return RowInvariantLinear(module)
    clone = copy.copy(module)
    clone._modules = {
        name: None if child is None else row_invariant(child)
        for name, child in module._modules.items()
    }
    return clone
