"""Every training path on a device (CUDA by default) against the CPU reference loop.

The device is $EMBEDDING_LAB_CHECK_DEVICE ("cuda" unless set; `make gpu-check` sets it): these tests skip only
where that device is missing. With EMBEDDING_LAB_CHECK_DEVICE=cpu they run the CPU's own paths (the fast path,
the grouped lazy loop) against the same reference: CI's dry run of the GPU check. Tiny vocabularies, a few
epochs: well under a minute on a CPU.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from core.config import TrainConfig
from core.data.dataset import build_dataset
from core.teachers.teacher import HashTeacher
from core.words.students import StudentConfig, build_student
from core.words.train import group_key, train_group, train_reference, train_student

DEVICE = os.environ.get("EMBEDDING_LAB_CHECK_DEVICE", "cuda")


def _available(device: str) -> bool:
    kind = torch.device(device).type
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return torch.backends.mps.is_available()
    return kind == "cpu"


pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not _available(DEVICE), reason=f"no {DEVICE} device here (EMBEDDING_LAB_CHECK_DEVICE)"),
]

ITEMS = [f"w{i:03d}" for i in range(160)]
CURVE, WEIGHT = 2e-4, 2e-4  # float32 on another device: the same maths, sums in another order


@pytest.fixture(scope="module")
def clean():
    return HashTeacher(16).embed(ITEMS)


def _same(reference, records, ref_model, model):
    assert len(records) == len(reference) > 0
    for a, b in zip(reference, records, strict=True):
        assert b.epoch == a.epoch
        assert b.train_loss == pytest.approx(a.train_loss, abs=CURVE)
        assert b.train_cosine == pytest.approx(a.train_cosine, abs=CURVE)
        assert (b.heldout_cosine is None) == (a.heldout_cosine is None)
        if a.heldout_cosine is not None:
            assert b.heldout_cosine == pytest.approx(a.heldout_cosine, abs=CURVE)
        np.testing.assert_allclose(b.embedding_means, a.embedding_means, atol=CURVE)
    ours, theirs = model.state_dict(), ref_model.state_dict()
    assert list(ours) == list(theirs)
    for name, tensor in theirs.items():
        torch.testing.assert_close(ours[name].cpu(), tensor.cpu(), atol=WEIGHT, rtol=1e-3, msg=name)


def _config(**kw):
    return TrainConfig(**{"teacher": "hash-16", "p": 0.5, "epochs": 4, "batch_size": 32, "lr": 0.02, **kw})


@pytest.mark.parametrize("kind", ["A", "B"])
@pytest.mark.parametrize("defence", ["none", "trimmed", "robust"])
def test_a_single_run_on_the_device_follows_the_cpu_reference(clean, kind, defence):
    """`train_student` on the device (the reference loop on a GPU, the fast path on a CPU)."""
    config = _config(model=kind, poison=0.2 if defence != "none" else 0.0, defence=defence, trim=0.2)
    dataset = build_dataset(ITEMS, clean, config.p, config.poison, config.seed)
    sc = StudentConfig(kind, len(ITEMS), 16)
    ref_model, model = build_student(sc, seed=2), build_student(sc, seed=2)
    reference = list(train_reference(ref_model, dataset, config, "cpu"))
    _same(reference, list(train_student(model, dataset, config, DEVICE)), ref_model, model)


@pytest.mark.parametrize("kind", ["A", "B"])
def test_the_reference_loop_on_the_device_follows_it_on_the_cpu(clean, kind):
    config = _config(model=kind, p=0.3)
    dataset = build_dataset(ITEMS, clean, config.p, 0.0, config.seed)
    sc = StudentConfig(kind, len(ITEMS), 16)
    ref_model, model = build_student(sc, seed=4), build_student(sc, seed=4)
    reference = list(train_reference(ref_model, dataset, config, "cpu"))
    _same(reference, list(train_reference(model, dataset, config, DEVICE)), ref_model, model)


@pytest.mark.parametrize("kind", ["A", "B"])
def test_a_group_on_the_device_follows_each_run_on_the_cpu_reference(clean, kind):
    configs = [_config(model=kind, p=p, seed=seed) for p, seed in ((0.1, 0), (0.5, 1), (1.0, 0))]
    assert len({group_key(c, len(ITEMS), 16) for c in configs}) == 1
    datasets = [build_dataset(ITEMS, clean, c.p, 0.0, c.seed) for c in configs]
    sc = StudentConfig(kind, len(ITEMS), 16)
    ref_models = [build_student(sc, seed=c.seed) for c in configs]
    references = [list(train_reference(m, d, c, "cpu")) for m, d, c in zip(ref_models, datasets, configs)]
    models = [build_student(sc, seed=c.seed) for c in configs]
    epochs = list(train_group(models, datasets, configs, DEVICE))
    for r in range(len(configs)):
        _same(references[r], [epoch[r] for epoch in epochs], ref_models[r], models[r])


def test_a_student_that_generalizes_on_the_device_follows_the_cpu_reference(clean):
    config = _config(model="subword")
    dataset = build_dataset(ITEMS, clean, config.p, 0.0, config.seed)
    sc = StudentConfig("subword", len(ITEMS), 16, buckets=512, hidden=16)
    ref_model, model = build_student(sc, seed=0, items=ITEMS), build_student(sc, seed=0, items=ITEMS)
    reference = list(train_reference(ref_model, dataset, config, "cpu"))
    _same(reference, list(train_student(model, dataset, config, DEVICE)), ref_model, model)


def test_a_closed_form_student_on_the_device_follows_the_cpu_reference(clean):
    features = HashTeacher(8, name="cheap").embed(ITEMS)
    config = _config(model="ridge", cheap="cheap-8")
    dataset = build_dataset(ITEMS, clean, config.p, 0.0, config.seed)
    sc = StudentConfig("ridge", len(ITEMS), 16, in_dim=8, cheap="cheap-8")
    ref_model = build_student(sc, seed=0, features=features)
    model = build_student(sc, seed=0, features=features)
    reference = list(train_reference(ref_model, dataset, config, "cpu"))
    _same(reference, list(train_student(model, dataset, config, DEVICE)), ref_model, model)
