import pytest
import torch

from core.config import StudentKind
from core.students import StudentConfig, build_student, load_student, save_student

KINDS = list(StudentKind)


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
