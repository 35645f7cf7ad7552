"""The reference loop (core.words.train.train_reference) and the fast CPU path (core.kernels.fast) are one
mathematics: on a small grid they give the same curves and the same final weights; a head the kernels do not
know trains on the reference loop."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from core.config import TrainConfig
from core.data.dataset import build_dataset
from core.kernels import fast, lazy_adam
from core.teachers.teacher import HashTeacher
from core.words import registry
from core.words.students import StudentConfig, build_student
from core.words.tables import ModelB
from core.words.train import group_key, train_reference, train_student

ITEMS = [f"w{i:03d}" for i in range(200)]


@pytest.fixture(scope="module")
def clean():
    return HashTeacher(16).embed(ITEMS)


def _compare(reference, other, ref_model, other_model):
    assert len(reference) == len(other) > 0
    for a, b in zip(reference, other, strict=True):
        assert b.epoch == a.epoch
        assert b.train_loss == pytest.approx(a.train_loss, abs=1e-5)
        assert b.train_cosine == pytest.approx(a.train_cosine, abs=1e-5)
        if a.heldout_cosine is None:
            assert b.heldout_cosine is None
        else:
            assert b.heldout_cosine == pytest.approx(a.heldout_cosine, abs=1e-5)
    ref_state, other_state = ref_model.state_dict(), other_model.state_dict()
    assert list(ref_state) == list(other_state)
    for name, tensor in ref_state.items():
        torch.testing.assert_close(other_state[name], tensor, atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.parametrize("kind", ["A", "B"])
@pytest.mark.parametrize(
    "p, poison, defence", [(0.2, 0.0, "none"), (1.0, 0.0, "none"), (0.5, 0.2, "trimmed"), (0.5, 0.2, "small-loss")]
)
def test_the_fast_path_follows_the_reference_loop(clean, kind, p, poison, defence):
    if not lazy_adam.available():
        pytest.skip("numba is not installed: the fast path never runs")
    config = TrainConfig(
        teacher="hash-16", model=kind, p=p, poison=poison, defence=defence, trim=0.2, epochs=5, batch_size=32, lr=0.02
    )
    dataset = build_dataset(ITEMS, clean, p, poison, config.seed)
    sc = StudentConfig(kind, len(ITEMS), 16)
    ref_model, fast_model = build_student(sc, seed=1), build_student(sc, seed=1)
    assert fast.applies(fast_model, "cpu")
    reference = list(train_reference(ref_model, dataset, config, "cpu"))
    quick = list(fast.train(fast_model, dataset, config, "cpu"))
    _compare(reference, quick, ref_model, fast_model)
    held = torch.as_tensor(dataset.heldout_idx)
    initial = build_student(sc, seed=1).embedding.weight[held]
    torch.testing.assert_close(ref_model.embedding.weight[held], initial, atol=0, rtol=0)  # never trained: unmoved


class GeluB(ModelB):
    """Model B with a GELU where its second ReLU stands: a layer the kernels do not know."""

    def __init__(self, config):
        super().__init__(config)
        self.gelu = nn.GELU()

    def head_layers(self):
        return [self.relu, self.down, self.gelu, self.up]


def test_a_head_the_kernels_do_not_know_trains_on_the_reference_loop(clean, monkeypatch):
    monkeypatch.setitem(registry.STUDENTS, "gelu-b", GeluB)
    config = TrainConfig(teacher="hash-16", p=0.5, epochs=4, batch_size=32, lr=0.02)
    dataset = build_dataset(ITEMS, clean, config.p, 0.0, config.seed)
    sc = StudentConfig("gelu-b", len(ITEMS), 16)
    model, reference_model = build_student(sc, seed=0), build_student(sc, seed=0)
    assert not fast.applies(model, "cpu") and not fast.groupable(model)
    assert group_key(TrainConfig(model="B"), len(ITEMS), 16) is not None
    records = list(train_student(model, dataset, config, "cpu"))  # the product's entry point falls back
    _compare(list(train_reference(reference_model, dataset, config, "cpu")), records, reference_model, model)
    assert records[-1].train_loss < records[0].train_loss
    with pytest.raises(ValueError, match="does not apply"):
        next(fast.train(build_student(sc, seed=0), dataset, config, "cpu"))
