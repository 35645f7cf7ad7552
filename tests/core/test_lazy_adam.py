"""Lazy Adam for table rows: the late, several-at-a-time steps land where dense torch.optim.Adam would."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.kernels import lazy_adam
from core.kernels.lazy_adam import adam_rows

pytestmark = pytest.mark.skipif(not lazy_adam.available(), reason="numba is not installed")


def _epochs_both_ways(n_rows=40, dim=8, batch=10, epochs=5, lr=0.05, blocks=1, seed=0, grad_scale=None):
    """Train a table both ways on the same batches and gradients; yield (epoch, lazy p, m, v, dense Adam)."""
    torch.manual_seed(seed)
    start = torch.randn(n_rows, dim)
    dense = start.clone().requires_grad_(True)
    opt = torch.optim.Adam([dense], lr=lr)
    p, m, v = start.clone().numpy(), np.zeros((n_rows, dim), np.float32), np.zeros((n_rows, dim), np.float32)
    steps = n_rows // (batch * blocks)  # each block is its own set of rows with its own steps
    gen = torch.Generator().manual_seed(seed + 1)
    for epoch in range(epochs):
        perm = torch.randperm(n_rows, generator=gen).numpy().astype(np.int64)
        before = epoch * steps
        for k in range(steps):
            # blocks of `batch` consecutive entries of idx; block b draws from its own part of the permutation
            idx = np.concatenate(
                [perm[b * steps * batch + k * batch : b * steps * batch + (k + 1) * batch] for b in range(blocks)]
            )
            gathered = np.empty((len(idx), dim), np.float32)
            adam_rows(p, m, v, idx, batch, np.full(blocks, before + 1), np.full(blocks, k), gathered=gathered, lr=lr)
            # The gathered rows are what dense Adam has at this step: every earlier zero-gradient step taken.
            np.testing.assert_allclose(gathered, dense.detach()[idx].numpy(), rtol=1e-5, atol=1e-6)
            grad = np.sin(3 * gathered + epoch).astype(np.float32)  # a gradient that depends on the rows
            if grad_scale is not None:
                grad *= grad_scale
            full = torch.zeros(n_rows, dim)
            full[idx] = torch.from_numpy(grad)
            dense.grad = full
            opt.step()
            adam_rows(
                p, m, v, idx, batch, np.full(blocks, before + k + 1), np.full(blocks, steps - k), grads=grad, lr=lr
            )
        yield epoch, p, m, v, dense, opt


@pytest.mark.parametrize("blocks", [1, 2])
def test_rows_match_dense_adam_at_every_epoch_end(blocks):
    for epoch, p, m, v, dense, opt in _epochs_both_ways(blocks=blocks, epochs=6):
        state = opt.state[dense]
        np.testing.assert_allclose(p, dense.detach().numpy(), rtol=1e-5, atol=2e-6, err_msg=f"epoch {epoch}")
        np.testing.assert_allclose(m, state["exp_avg"].numpy(), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(v, state["exp_avg_sq"].numpy(), rtol=1e-4, atol=1e-9)


def test_tiny_and_zero_gradients_follow_dense_adam():
    # Per column, gradients from 1 down to 1e-14 and exactly 0 (a ReLU-dead element): from sqrt(v) >> eps to
    # sqrt(v) << eps, where eps dominates Adam's step (many of the real students' row elements live there).
    scale = np.array([1.0, 1e-3, 1e-6, 1e-8, 1e-9, 1e-11, 1e-14, 0.0], np.float32)
    torch.manual_seed(0)
    start = torch.randn(60, 8).numpy()  # what _epochs_both_ways starts from (same seed)
    for epoch, p, m, v, dense, opt in _epochs_both_ways(n_rows=60, batch=6, epochs=4, grad_scale=scale):
        state = opt.state[dense]
        # The moves, column by column (p's own size would hide a wrong move of a slow column).
        np.testing.assert_allclose(
            p - start, dense.detach().numpy() - start, rtol=2e-4, atol=1e-6, err_msg=f"epoch {epoch}"
        )
        np.testing.assert_allclose(m, state["exp_avg"].numpy(), rtol=1e-4, atol=1e-30)
        np.testing.assert_allclose(v, state["exp_avg_sq"].numpy(), rtol=1e-4, atol=1e-37)
    assert np.all(p[:, -1] == start[:, -1])  # a zero gradient never moves an element


def test_many_zero_steps_in_one_call_follow_dense_adam():
    # A row seen at step 1 of a 50-step epoch, then idle: one call takes its gradient step and 49 zero steps.
    rng = np.random.default_rng(0)
    start, grad = rng.normal(size=(1, 6)).astype(np.float32), rng.normal(size=(1, 6)).astype(np.float32)
    dense = torch.tensor(start, requires_grad=True)
    opt = torch.optim.Adam([dense], lr=0.01)
    for t in range(50):
        dense.grad = torch.tensor(grad) if t == 0 else torch.zeros(1, 6)
        opt.step()
    p, m, v = start.copy(), np.zeros_like(start), np.zeros_like(start)
    adam_rows(p, m, v, np.array([0]), 1, np.array([1]), np.array([50]), grads=grad, lr=0.01)
    np.testing.assert_allclose(p, dense.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(v, opt.state[dense]["exp_avg_sq"].numpy(), rtol=1e-4)


def test_the_padding_row_is_never_updated_and_gathers_as_zeros():
    p = np.ones((3, 4), np.float32)
    m, v = np.full_like(p, 0.1), np.full_like(p, 0.01)
    gathered = np.full((2, 4), 7.0, np.float32)
    adam_rows(p, m, v, np.array([0, 2]), 2, np.array([5]), np.array([3]), gathered=gathered, lr=0.1, skip=2)
    assert np.all(p[2] == 1.0) and np.all(m[2] == 0.1) and np.all(v[2] == 0.01)
    assert np.all(gathered[1] == 0.0)
    assert np.all(p[0] < 1.0) and np.all(gathered[0] == p[0])  # m > 0: a row with momentum moves on zero steps
    # Untouched row 1, not in idx.
    assert np.all(p[1] == 1.0)


def test_zero_steps_only_gathers():
    p = np.arange(12, dtype=np.float32).reshape(3, 4)
    m, v = np.ones_like(p), np.ones_like(p)
    gathered = np.empty((2, 4), np.float32)
    adam_rows(p, m, v, np.array([2, 0]), 2, np.array([1]), np.array([0]), gathered=gathered, lr=0.1)
    np.testing.assert_array_equal(gathered, p[[2, 0]])
    np.testing.assert_array_equal(p, np.arange(12, dtype=np.float32).reshape(3, 4))
    before = (p.copy(), m.copy(), v.copy())
    adam_rows(p, m, v, np.array([], dtype=np.int64), 2, np.array([1]), np.array([3]), lr=0.1)  # no rows: nothing
    for after, then in zip((p, m, v), before, strict=True):
        np.testing.assert_array_equal(after, then)


def test_warm_up_compiles_without_touching_anything():
    lazy_adam.warm_up()
    assert lazy_adam.available()


def test_used_on_the_cpu_only():
    assert lazy_adam.used_on("cpu") and lazy_adam.used_on(torch.device("cpu"))
    assert not lazy_adam.used_on("cuda") and not lazy_adam.used_on("cuda:1") and not lazy_adam.used_on("mps")


@pytest.mark.parametrize("t0", [150, 1000, 20000])
@pytest.mark.parametrize("with_grad", [False, True])
def test_long_idle_runs_late_in_training_follow_dense_adam(t0, with_grad):
    # Late in training a row's run of zero steps is taken as a short series in one pass (the scale of sqrt(v)
    # barely moves along it); this checks the series against dense Adam stepping, for moments from sqrt(v) >> eps
    # to sqrt(v) << eps, and for runs long and short (40 and 5 steps), with and without a gradient step first.
    scale = np.array([1.0, 1e-3, 1e-6, 1e-8, 1e-9, 1e-11, 1e-14, 0.0], np.float32)
    rng = np.random.default_rng(t0)
    dense = torch.tensor(rng.normal(size=(1, 8)).astype(np.float32), requires_grad=True)
    opt = torch.optim.Adam([dense], lr=0.01)
    for t in range(1, t0 + 1):  # a history of gradients (the last few hundred shape m and v)
        dense.grad = (
            torch.tensor((rng.normal(size=(1, 8)) * scale).astype(np.float32)) if t > t0 - 300 else torch.zeros(1, 8)
        )
        opt.step()
    for length in (40, 5):
        with torch.no_grad():  # from 0, so that p's rounding is that of the move itself (as small as it is)
            dense.zero_()
        p = dense.detach().numpy().copy()
        m, v = opt.state[dense]["exp_avg"].numpy().copy(), opt.state[dense]["exp_avg_sq"].numpy().copy()
        done = int(opt.state[dense]["step"])
        grad = (rng.normal(size=(1, 8)) * scale).astype(np.float32)
        for k in range(length):
            dense.grad = torch.tensor(grad) if (with_grad and k == 0) else torch.zeros(1, 8)
            opt.step()
        adam_rows(
            p,
            m,
            v,
            np.array([0]),
            1,
            np.array([done + 1]),
            np.array([length]),
            grads=grad if with_grad else None,
            lr=0.01,
        )
        np.testing.assert_allclose(p, dense.detach().numpy(), rtol=2e-6, atol=1e-30, err_msg=f"{length} steps")
        np.testing.assert_allclose(m, opt.state[dense]["exp_avg"].numpy(), rtol=1e-5, atol=1e-30)
        np.testing.assert_allclose(v, opt.state[dense]["exp_avg_sq"].numpy(), rtol=1e-4, atol=1e-37)


def test_relu_gathers_the_rows_relu_and_steps_through_its_backward():
    # A training step's two halves with relu=True: the head's input max(row, 0) is gathered (with the targets),
    # and the gradient given is with respect to it: the step sees it zeroed where the row is <= 0. The same as
    # gathering the rows and passing threshold_backward(grad, rows, 0) without relu.
    rng = np.random.default_rng(3)
    p0 = rng.standard_normal((6, 8)).astype(np.float32)
    p0[1, :4] = 0.0  # exactly 0: the ReLU's backward is 0 there too
    m0, v0 = (rng.random((6, 8)) * 0.1).astype(np.float32), (rng.random((6, 8)) * 0.01).astype(np.float32)
    targets = rng.standard_normal((6, 8)).astype(np.float32)
    idx, grad = np.array([4, 1, 5, 0]), rng.standard_normal((4, 8)).astype(np.float32)
    results = []
    for relu in (True, False):
        p, m, v = p0.copy(), m0.copy(), v0.copy()
        gathered, gathered_t = np.empty((4, 8), np.float32), np.empty((4, 8), np.float32)
        adam_rows(
            p,
            m,
            v,
            idx,
            4,
            np.array([7]),
            np.array([3]),
            gathered=gathered,
            relu=relu,
            targets=targets,
            targets_out=gathered_t,
            lr=0.05,
            skip=5,
        )
        np.testing.assert_array_equal(gathered_t, targets[idx])  # every row, the padding row's too
        assert np.all(gathered[2] == 0.0)  # the padding row
        x = p[idx].copy()
        x[2] = 0.0
        np.testing.assert_array_equal(gathered, np.maximum(x, 0.0) if relu else x)
        given = (
            grad
            if relu
            else torch.ops.aten.threshold_backward(torch.from_numpy(grad), torch.from_numpy(x), 0.0).numpy()
        )
        adam_rows(p, m, v, idx, 4, np.array([10]), np.array([5]), grads=given, relu=relu, lr=0.05, skip=5)
        results.append((p, m, v))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(results[0][0], p0)


@pytest.mark.slow
def test_kernels_compile_where_numba_cannot_cache_them(tmp_path):
    # A read-only install run by a user without a writable home: numba's njit(cache=True) refuses at import
    # time there, which took training down with it. The kernels are then compiled in memory, with one warning.
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    core = Path(lazy_adam.__file__).parents[1]
    shutil.copytree(core, tmp_path / "core", ignore=shutil.ignore_patterns("__pycache__"))
    # files: no cache folder can be made next to the sources
    (tmp_path / "core" / "__pycache__").write_text("")
    (tmp_path / "core" / "kernels" / "__pycache__").write_text("")
    blocked = tmp_path / "home"
    blocked.write_text("")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(blocked),
        "XDG_CACHE_HOME": str(blocked),
        "NUMBA_CACHE_DIR": str(blocked / "numba"),
    }
    script = (
        "import warnings, numpy as np\n"
        "from core.kernels import grouped, lazy_adam\n"
        "with warnings.catch_warnings(record=True) as seen:\n"
        "    warnings.simplefilter('always')\n"
        "    lazy_adam.warm_up()\n"
        "p = np.ones((2, 4), np.float32)\n"
        "lazy_adam.adam_rows(p, np.full_like(p, 0.1), np.full_like(p, 0.01), np.array([0]), 1, np.array([3]), np.array([2]), lr=0.1)\n"
        "assert p[0, 0] < 1.0 and p[1, 0] == 1.0\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ok" in result.stdout
    assert result.stderr.count("cannot be cached on disk") == 1
