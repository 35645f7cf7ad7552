import pytest
import torch

from core.config import StudentKind
from core.words.students import StudentConfig, build_student, load_student, save_student

KINDS = [StudentKind.A, StudentKind.B]  # the lookup tables; the others: test_generalizing.py


@pytest.mark.parametrize("kind", KINDS)
def test_output_is_unit_and_shaped_like_the_teacher(kind):
    model = build_student(StudentConfig(kind, vocab_size=50, dim=12), seed=0)
    out = model(torch.arange(50))
    assert out.shape == (50, 12)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(50))


def test_model_a_can_only_point_into_the_positive_orthant():
    out = build_student(StudentConfig("A", 30, 8))(torch.arange(30))
    assert (out >= 0).all()


def test_model_b_has_the_papers_bottleneck():
    model = build_student(StudentConfig("B", 10, 384))
    assert (model.down.in_features, model.down.out_features) == (384, 192)
    assert (model.up.in_features, model.up.out_features) == (192, 384)
    assert sum(p.numel() for p in model.parameters()) == 10 * 384 + 384 * 192 + 192 + 192 * 384 + 384


@pytest.mark.parametrize("kind", KINDS)
def test_seeded_build_and_save_load_round_trip(kind, tmp_path):
    config = StudentConfig(kind, 20, 6)
    a, b = build_student(config, seed=5), build_student(config, seed=5)
    torch.testing.assert_close(a(torch.arange(20)), b(torch.arange(20)))
    assert not torch.equal(a.embedding.weight, build_student(config, seed=6).embedding.weight)
    save_student(a, tmp_path)
    loaded = load_student(tmp_path)
    assert loaded.config == config
    torch.testing.assert_close(loaded(torch.arange(20)), a(torch.arange(20)))


@pytest.mark.parametrize("kind", KINDS)
def test_hand_written_gradients_match_autograd(kind):
    # The fast path's interpreter of the declared layers (core.kernels.heads) against autograd through forward.
    from core.evaluation.metrics import cosine_embedding_loss
    from core.kernels import heads

    g = torch.Generator().manual_seed(0)
    model = build_student(StudentConfig(kind, 40, 12), seed=2)
    rows = torch.randn(16, 12, generator=g)
    rows[0] = -rows[0].abs()  # an all-negative row: ReLU gives zeros, normalize must not explode
    targets = torch.nn.functional.normalize(torch.randn(16, 12, generator=g), dim=1)

    x = rows.clone().requires_grad_()
    expected = cosine_embedding_loss(model.head(x), targets)
    expected.backward()
    layer_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    assert len(layer_grads) == (4 if kind == "B" else 0)
    for p in model.parameters():
        p.grad = None

    layers = heads.layers_of(model)
    assert layers is not None
    loss, row_grads = heads.loss_and_grads(layers, rows, targets)
    torch.testing.assert_close(loss, expected.detach(), atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(row_grads, x.grad, atol=1e-6, rtol=1e-5)
    for name, grad in layer_grads.items():
        torch.testing.assert_close(dict(model.named_parameters())[name].grad, grad, atol=1e-6, rtol=1e-5, msg=name)


@pytest.mark.parametrize("kind", KINDS)
def test_buffered_head_equals_head(kind):
    from core.kernels import heads

    model = build_student(StudentConfig(kind, 30, 10), seed=4)
    rows = model.embedding.weight.detach()
    rows[0] = -rows[0].abs()
    scratch = {}
    first = heads.head_into(heads.layers_of(model), rows, scratch)
    torch.testing.assert_close(first, model.head(rows), atol=1e-6, rtol=1e-5)
    kept = first.clone()
    again = heads.head_into(heads.layers_of(model), rows, scratch)
    assert again.data_ptr() == first.data_ptr()  # the same work buffer, reused
    assert not any(t.data_ptr() == rows.data_ptr() for t in scratch.values())  # never the table itself
    torch.testing.assert_close(again, kept)


def test_stored_runs_with_the_old_keys_still_load(tmp_path):
    """Run folders on users' disks hold Model B as embedding / down / up: they load unchanged, and a head stored
    by position (head.1, head.3) maps onto the same layers."""
    import json

    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(0)
    old = {
        "embedding.weight": torch.randn(7, 6, generator=g),
        "down.weight": torch.randn(3, 6, generator=g),
        "down.bias": torch.randn(3, generator=g),
        "up.weight": torch.randn(6, 3, generator=g),
        "up.bias": torch.randn(6, generator=g),
    }
    config = {"kind": "B", "vocab_size": 7, "dim": 6, "in_dim": 0, "hidden": 0, "buckets": 0, "cheap": "", "centres": 0}
    for folder, state in (
        ("old", old),
        ("by_position", {k.replace("down.", "head.1.").replace("up.", "head.3."): v for k, v in old.items()}),
    ):
        (tmp_path / folder).mkdir()
        save_file(state, tmp_path / folder / "student.safetensors")
        (tmp_path / folder / "student.json").write_text(json.dumps(config))
        model = load_student(tmp_path / folder)
        for key, value in old.items():
            torch.testing.assert_close(model.state_dict()[key], value, atol=0, rtol=0, msg=key)
        h = torch.relu(torch.relu(old["embedding.weight"]) @ old["down.weight"].T + old["down.bias"])
        expected = torch.nn.functional.normalize(h @ old["up.weight"].T + old["up.bias"], dim=1)
        torch.testing.assert_close(model(torch.arange(7)), expected)
    (tmp_path / "again").mkdir()
    save_student(model, tmp_path / "again")
    from safetensors.torch import load_file

    assert sorted(load_file(tmp_path / "again" / "student.safetensors")) == sorted(old)
