"""The grouped CPU loop's loss kernel: the paper's cosine loss and its gradient, as the torch ops compute them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.kernels import cosine_grad as kernel

pytestmark = pytest.mark.skipif(not kernel.available(), reason="numba is not installed")


def test_loss_gradient_and_bias_sum_match_autograd():
    # Two runs' batches of 5 rows; run 0 has 3 real rows (2 padding rows: target 0), run 1 all 5. One raw output
    # row is all zero (its norm clamps at 1e-12).
    torch.manual_seed(0)
    y = torch.randn(2, 5, 16)
    y[1, 2] = 0.0
    t = torch.nn.functional.normalize(torch.randn(2, 5, 16), dim=2)
    t[0, 3:] = 0.0
    counts = torch.tensor([3.0, 5.0])

    leaf = y.clone().requires_grad_(True)
    s = leaf / leaf.norm(dim=2, keepdim=True).clamp_min(1e-12)
    cos = (s * t).sum(2)
    loss = ((1.0 - cos) * (t.norm(dim=2) > 0)).sum(1) / counts  # each run's mean over its real rows
    loss.sum().backward()

    out, cos_sums, bias = y.clone().numpy(), np.empty(2, np.float32), np.full((2, 16), 9.0, np.float32)
    kernel.cosine_grad(out, t.numpy(), counts.numpy(), cos_sums, bias)
    np.testing.assert_allclose(cos_sums, cos.detach().sum(1).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out, leaf.grad.numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(bias, leaf.grad.sum(1).numpy(), rtol=1e-4, atol=1e-6)
    assert np.all(out[0, 3:] == 0.0)  # padding rows: no gradient
    assert np.isfinite(out).all()  # a zero output row (norm clamped): finite, as autograd's

    again = y.clone().numpy()
    kernel.cosine_grad(again, t.numpy(), counts.numpy(), np.empty(2, np.float32))  # no bias: the same gradient
    np.testing.assert_array_equal(again, out)
