"""A table student's head run by hand: the layers it declares, interpreted, forward and backward.

A table student (`core.words.tables`) is a lookup table followed by a list of standard layers
(`model.head_layers()`) and a unit normalization, and the paper's loss is mean(1 - cos(output, target)).
The fast CPU path does not restate any student's maths: it reads that list and runs the layers it knows —
`nn.ReLU` and `nn.Linear` (with a bias) — with the same torch ops autograd would run, without the autograd
engine's per-op bookkeeping, which dominates the small steps of this training (tested against autograd).
A head with any other layer is not `known`: that student trains on the reference path (`core.words.train`).

Nothing here imports a student: a model is anything with an `embedding` (nn.Embedding) and `head_layers()`.
"""

from __future__ import annotations

import torch
from torch import nn

from core.evaluation.records import buffer

KNOWN = (nn.ReLU, nn.Linear)


def layers_of(model) -> list[nn.Module] | None:
    """The model's head layers if it is a table student whose every layer is known here, else None."""
    if not isinstance(getattr(model, "embedding", None), nn.Embedding) or not hasattr(model, "head_layers"):
        return None
    layers = list(model.head_layers())
    for layer in layers:
        if type(layer) not in KNOWN or (isinstance(layer, nn.Linear) and layer.bias is None):
            return None
        if isinstance(layer, nn.ReLU) and layer.inplace:
            return None
    return layers


def linears(layers: list[nn.Module]) -> list[nn.Linear]:
    return [layer for layer in layers if isinstance(layer, nn.Linear)]


def normalize_(y: torch.Tensor) -> torch.Tensor:
    """In place, the same as F.normalize(y, dim=-1): y / max(|y|, 1e-12)."""
    return y.div_(torch.linalg.vector_norm(y, dim=-1, keepdim=True).clamp_min_(1e-12))


def cosine_loss_and_grad(y: torch.Tensor, targets: torch.Tensor, weigh=None) -> tuple[torch.Tensor, torch.Tensor]:
    """mean(1 - cos(y, t)) over the batch and its gradient with respect to y, for unit targets t.

    With o = y / |y|: d/dy = (t - (o.t) o) / (-B |y|) (the normalization's and the cosine's
    projections coincide when |o| = |t| = 1). With `weigh` (a defence: per-answer losses -> weights
    replacing the mean's 1/B) the gradient is that of sum_i w_i (1 - cos_i); the returned loss
    stays the plain mean, so curves compare across defences.
    """
    norm = y.norm(dim=1, keepdim=True).clamp_min_(1e-12)
    out = y / norm
    cos = torch.linalg.vecdot(out, targets)
    residual = torch.addcmul(targets, out, cos.unsqueeze(1), value=-1.0)
    weights = weigh(1.0 - cos) if weigh is not None else None
    if weights is None:
        dy = residual.div_(norm.mul_(-y.shape[0]))
    else:
        dy = residual.mul_(weights.neg().unsqueeze(1)).div_(norm)
    return 1.0 - cos.mean(), dy


@torch.no_grad()
def loss_and_grads(
    layers: list[nn.Module], rows: torch.Tensor, targets: torch.Tensor, weigh=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's loss of the head on these table rows (`weigh`: a defence's per-answer weights); writes every
    Linear's gradients into its `.grad` and returns the gradient with respect to the rows."""
    inputs = []
    x = rows
    for layer in layers:
        inputs.append(x)
        x = torch.relu(x) if isinstance(layer, nn.ReLU) else torch.addmm(layer.bias, x, layer.weight.t())
    loss, dy = cosine_loss_and_grad(x, targets, weigh)
    for layer, x in zip(reversed(layers), reversed(inputs)):
        if isinstance(layer, nn.ReLU):
            # threshold_backward(g, x, 0) = g * (x > 0) in one kernel: ReLU's own backward.
            dy = torch.ops.aten.threshold_backward(dy, x, 0.0)
            continue
        if layer.weight.grad is None:
            layer.weight.grad = torch.empty_like(layer.weight)
            layer.bias.grad = torch.empty_like(layer.bias)
        torch.mm(dy.t(), x, out=layer.weight.grad)
        torch.sum(dy, dim=0, out=layer.bias.grad)
        dy = torch.mm(dy, layer.weight)
    return loss, dy


@torch.no_grad()
def head_into(layers: list[nn.Module], rows: torch.Tensor, scratch: dict, normalize: bool = True) -> torch.Tensor:
    """The head on these rows without autograd, into work buffers reused across calls (the result is
    overwritten by the next call with the same `scratch`); unit rows, or with `normalize=False` the raw output.
    `layers` may also be stacked weights' slices: a (weight, bias) pair stands for a Linear."""
    x, owned = rows, False
    for i, layer in enumerate(layers):
        if isinstance(layer, nn.ReLU):
            x = x.relu_() if owned else torch.clamp_min(x, 0.0, out=buffer(scratch, f"h{i}", x.shape, x))
        else:
            weight, bias = (layer.weight, layer.bias) if isinstance(layer, nn.Linear) else layer
            # The weight transposed into a contiguous copy first (0.3 MB for Model B): MKL runs the big product
            # faster (docs/BENCHMARKS.md).
            x = torch.addmm(bias, x, weight.t().contiguous(), out=buffer(scratch, f"h{i}", (x.shape[0], len(bias)), x))
        owned = True
    if not owned:  # no layer at all: the rows themselves, copied (the caller's buffer, not the table)
        x = torch.clone(x)
    return normalize_(x) if normalize else x
