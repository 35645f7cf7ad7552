"""The poisoning lab's engine: adversaries, leave-one-out detection, the trimmed defence of the ridge adapter."""

import numpy as np
import pytest
import torch

from core.config import Adversary, PoisonScope
from core.data.dataset import poison_answers
from core.poisoning.poison import detect, outliers, ridge_loo_losses


def unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def clean():
    return unit(np.random.default_rng(0).normal(size=(200, 16)) + 1.0)


@pytest.mark.parametrize("adversary", list(Adversary))
def test_each_adversary_poisons_the_asked_count_and_only_those(clean, adversary):
    targets, mask = poison_answers(clean, 0.1, 0, adversary)
    assert mask.sum() == 20
    np.testing.assert_array_equal(targets[~mask], clean[~mask])
    np.testing.assert_allclose(np.linalg.norm(targets, axis=1), 1.0, atol=1e-5)
    cos = (targets[mask] * clean[mask]).sum(1)
    if adversary is Adversary.NEGATE:
        np.testing.assert_allclose(cos, -1.0, atol=1e-5)
    elif adversary is Adversary.SWAP:
        assert all(any(np.allclose(t, c) for c in clean) for t in targets[mask]) and (cos < 0.9999).all()
    elif adversary is Adversary.NOISE:
        assert 0.0 < cos.mean() < 0.6
    elif adversary is Adversary.CONCENTRATED:
        assert np.allclose(targets[mask], targets[mask][0])
    # Same seed, same poison; the train-only scope stays inside the training set.
    again, mask2 = poison_answers(clean, 0.1, 0, adversary)
    np.testing.assert_array_equal(again, targets)
    train = np.arange(0, 200, 3)
    _, inside = poison_answers(clean, 0.1, 0, adversary, PoisonScope.TRAIN, train)
    assert inside.sum() == round(0.1 * len(train)) and set(np.flatnonzero(inside)) <= set(train)


def test_bad_rates_get_a_sentence(clean):
    with pytest.raises(ValueError, match="between 0 and 1"):
        poison_answers(clean, 1.0, 0)
    with pytest.raises(ValueError, match="training indices"):
        poison_answers(clean, 0.1, 0, scope="train")


def test_loo_losses_match_refitting_without_the_item():
    rng = np.random.default_rng(3)
    x, y = torch.tensor(rng.normal(size=(20, 5))), torch.tensor(unit(rng.normal(size=(20, 4))))
    losses = ridge_loo_losses(x, y, alpha=0.5)
    for i in (0, 7):
        keep = torch.arange(20) != i
        mx, my = x.double()[keep].mean(0), y.double()[keep].mean(0)  # the intercept is refitted too
        xc, yc = x.double()[keep] - mx, y.double()[keep] - my
        coef = torch.linalg.solve(xc.T @ xc + 0.5 * torch.eye(5, dtype=torch.float64), xc.T @ yc)
        pred = (x.double()[i] - mx) @ coef + my
        expected = 1 - torch.nn.functional.cosine_similarity(pred, y.double()[i], dim=0)
        assert float(losses[i]) == pytest.approx(float(expected), abs=1e-9)


def test_detection_and_trimmed_defence_on_a_linear_world():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 12)).astype(np.float32)
    clean = unit(x @ rng.normal(size=(12, 16)) + 2.0 * rng.normal(size=16))
    targets, mask = poison_answers(clean, 0.1, 0, "random")
    xt, yt = torch.tensor(x), torch.tensor(targets)
    from core.words.generalizing import fit_ridge

    _, _, alpha = fit_ridge(xt, yt)
    d = detect(ridge_loo_losses(xt, yt, alpha).numpy(), mask)
    assert d.precision >= 0.85 and d.recall >= 0.95  # real MiniLM/MPNet data: 0.98 and 1.0 (docs/BENCHMARKS.md)
    from core.poisoning.defence import fit_defended
    from core.words.generalizing import RidgeAdapter
    from core.words.students import StudentConfig

    model = RidgeAdapter(StudentConfig("ridge", len(x), 16, in_dim=12, cheap="x"))
    model.set_inputs(None, x)
    report = fit_defended(model, torch.arange(len(x)), yt, "trimmed", 0.0)
    assert (report.dropped & mask).sum() >= 0.9 * mask.sum()
    weight, bias = model.linear.weight.detach(), model.linear.bias.detach()
    pred = unit((x @ weight.numpy().T) + bias.numpy())
    assert (pred * clean).sum(1).mean() > 0.95


def test_outlier_rule():
    losses = np.r_[np.full(50, 0.1) + np.linspace(0, 0.02, 50), [0.9, 1.0]]
    assert outliers(losses).sum() == 2


def test_config_and_dataset_carry_the_adversary(clean):
    from core.config import TrainConfig
    from core.data.dataset import build_dataset

    with pytest.raises(ValueError, match="adversary must be one of"):
        TrainConfig(adversary="evil")
    with pytest.raises(ValueError, match="defence must be one of"):
        TrainConfig(model="B", defence="pray")
    with pytest.raises(ValueError, match="share to leave out"):
        TrainConfig(model="B", defence="trimmed", trim=0.9)
    assert TrainConfig(model="B", defence="Small-Loss").defence == "small-loss"
    assert TrainConfig(model="B", trim=0.2).trim == 0.0  # nothing is left out without a defence
    assert TrainConfig(model="ridge", poison=0.1, adversary="SWAP", defence="trimmed").adversary == "swap"
    assert TrainConfig(poison=0.0, adversary="swap", poison_scope="train").adversary == "random"  # clean is clean
    items = [f"w{i}" for i in range(len(clean))]
    paper = build_dataset(items, clean, 0.5, 0.1, 0)  # the paper's attack keeps its own stream
    from core.data.dataset import poison_targets

    np.testing.assert_array_equal(paper.targets, poison_targets(clean, 0.1, 0)[0])
    train_only = build_dataset(items, clean, 0.5, 0.1, 0, "negate", "train")
    assert train_only.poisoned[train_only.heldout_idx].sum() == 0 and train_only.poisoned_in_train == 10


def test_cli_trimmed_defence_reports_detection(tmp_path, capsys):
    import json

    from core.__main__ import main
    from core.paths import teacher_cache_dir
    from core.teachers.teacher import CachedTeacher, HashTeacher

    words = tmp_path / "words.txt"
    words.write_text("\n".join(f"w{i:03d}" for i in range(200)))
    CachedTeacher(HashTeacher(8), teacher_cache_dir()).embed(
        [f"w{i:03d}" for i in range(200)]
    )  # the cheap model 'hash-8'
    code = main(
        [
            "train",
            "--teacher",
            "hash-16",
            "--vocab",
            str(words),
            "--model",
            "ridge",
            "--cheap",
            "hash-8",
            "--p",
            "0.5",
            "--poison",
            "0.1",
            "--adversary",
            "negate",
            "--defence",
            "trimmed",
            "--json",
        ]
    )
    assert code == 0
    final = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert final["defence"] == "trimmed" and final["adversary"] == "negate"
    assert {"detection_precision", "detection_recall", "clean_heldout_cosine"} <= set(final)
