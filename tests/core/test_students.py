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
    from core.evaluation.metrics import cosine_embedding_loss

    g = torch.Generator().manual_seed(0)
    model = build_student(StudentConfig(kind, 40, 12), seed=2)
    rows = torch.randn(16, 12, generator=g)
    rows[0] = -rows[0].abs()  # an all-negative row: ReLU gives zeros, normalize must not explode
    targets = torch.nn.functional.normalize(torch.randn(16, 12, generator=g), dim=1)

    x = rows.clone().requires_grad_()
    expected = cosine_embedding_loss(model.head(x), targets)
    expected.backward()
    layer_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    for p in model.parameters():
        p.grad = None

    with torch.no_grad():
        loss, row_grads = model.loss_and_grads(rows, targets)
    torch.testing.assert_close(loss, expected.detach(), atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(row_grads, x.grad, atol=1e-6, rtol=1e-5)
    for name, grad in layer_grads.items():
        torch.testing.assert_close(dict(model.named_parameters())[name].grad, grad, atol=1e-6, rtol=1e-5, msg=name)


@pytest.mark.parametrize("kind", KINDS)
def test_buffered_head_equals_head(kind):
    model = build_student(StudentConfig(kind, 30, 10), seed=4)
    rows = model.embedding.weight.detach()
    rows[0] = -rows[0].abs()
    scratch = {}
    first = model.head_into(rows, scratch).clone()
    torch.testing.assert_close(first, model.head(rows), atol=1e-6, rtol=1e-5)
    again = model.head_into(rows, scratch)
    assert again.data_ptr() == scratch[next(iter(scratch))].data_ptr() or again.shape == first.shape
    torch.testing.assert_close(again, first)
