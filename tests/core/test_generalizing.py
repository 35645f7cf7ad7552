"""Students that generalize: ridge and MLP adapters, the subword student."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core.config import StudentKind, TrainConfig
from core.data.dataset import build_dataset
from core.runs.evaluated import evaluate_run, run_vectors
from core.runs.experiment import TrainingRun, prepare_items
from core.runs.store import list_runs, load_run
from core.teachers.teacher import CachedTeacher, HashTeacher, LayerFeatures
from core.words.generalizing import (
    KERNEL_ALPHAS,
    KERNEL_GAMMAS,
    choose_kernel_setting,
    choose_kernel_setting_exhaustive,
    fit_kernel_ridge,
    fit_ridge,
    kernel_matrix,
    kernel_parts,
    ngram_ids,
)
from core.words.students import StudentConfig, build_student
from core.words.train import train_student


def unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def linear_world(n=400, d_in=12, d_out=16, seed=0):
    """Cheap features and a teacher that is a (noisy) linear function of them plus a shared offset."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d_in)).astype(np.float32)
    teacher = unit(
        x @ rng.normal(size=(d_in, d_out)) + 2.0 * rng.normal(size=d_out) + 0.1 * rng.normal(size=(n, d_out))
    )
    return x, teacher


def run_student(kind, items, teacher, features=None, p=0.3, epochs=30, lr=0.01):
    dataset = build_dataset(items, teacher, p, 0.0, 0)
    config = TrainConfig(teacher="hash-16", model=kind, p=p, epochs=epochs, batch_size=32, lr=lr)
    centres = len(dataset.train_idx) if kind == "kernel" else 0
    sc = StudentConfig(
        kind,
        len(items),
        teacher.shape[1],
        in_dim=0 if features is None else features.shape[1],
        cheap="x",
        centres=centres,
    )
    model = build_student(sc, seed=0, items=items, features=features)
    return list(train_student(model, dataset, config, "cpu")), dataset


def test_ridge_picks_alpha_by_exact_leave_one_out():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(25, 6)), rng.normal(size=(25, 3))
    weight, bias, alpha = fit_ridge(torch.tensor(x), torch.tensor(y), alphas=(0.1, 1.0, 10.0))

    def loo_error(a):
        err = 0.0
        for i in range(len(x)):
            keep = np.arange(len(x)) != i
            mx, my = x[keep].mean(0), y[keep].mean(0)
            xc = x[keep] - mx
            coef = np.linalg.solve(xc.T @ xc + a * np.eye(6), xc.T @ (y[keep] - my))
            err += ((x[i] - mx) @ coef + my - y[i]) @ ((x[i] - mx) @ coef + my - y[i])
        return err

    assert alpha == min((0.1, 1.0, 10.0), key=loo_error)
    xc = x - x.mean(0)
    coef = np.linalg.solve(xc.T @ xc + alpha * np.eye(6), xc.T @ (y - y.mean(0)))
    np.testing.assert_allclose(weight.numpy(), coef.T, atol=1e-5)
    np.testing.assert_allclose(bias.numpy(), y.mean(0) - x.mean(0) @ coef, atol=1e-5)


def test_kernel_ridge_is_the_closed_form_with_leave_one_out_settings():
    rng = np.random.default_rng(2)
    x = torch.tensor(unit(rng.normal(size=(30, 5))))
    y = torch.tensor(rng.normal(size=(30, 3)))
    coef, mean, alpha, gamma = fit_kernel_ridge(x, y, torch.arange(30), alphas=(1e-3, 1e-1, 10.0), gammas=(0.5, 2.0))

    def loo_error(a, g):
        err = 0.0
        for i in range(30):
            keep = torch.arange(30) != i
            xk, yk = x[keep].double(), y[keep].double()
            c = torch.linalg.solve(
                kernel_matrix(xk, xk, g) + a * torch.eye(29, dtype=torch.float64), yk - y.double().mean(0)
            )
            pred = kernel_matrix(x[i : i + 1].double(), xk, g) @ c + y.double().mean(0)
            err += float(((pred - y[i].double()) ** 2).sum())
        return err

    # The shortcut keeps the full-data mean inside each left-out fit, so compare the ranking only.
    assert (alpha, gamma) == min(
        ((a, g) for a in (1e-3, 1e-1, 10.0) for g in (0.5, 2.0)), key=lambda ag: loo_error(*ag)
    )
    k = kernel_matrix(x.double(), x.double(), gamma)
    expected = torch.linalg.solve(k + alpha * torch.eye(30, dtype=torch.float64), y.double() - y.double().mean(0))
    np.testing.assert_allclose(coef.numpy(), expected.float().numpy(), atol=1e-4)
    # With fewer centres than rows every row still fits the coefficients (subset of regressors).
    coef_sr, _, _, _ = fit_kernel_ridge(x, y, torch.arange(0, 30, 2))
    assert coef_sr.shape == (15, 3) and torch.isfinite(coef_sr).all()


def _curved_words(n: int, seed: int, d_in: int = 24, d_out: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit feature rows in clusters (words of a few kinds) and targets a smooth non-linear map of them, plus noise."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(8, d_in, generator=g)
    x = centres[torch.randint(0, 8, (n,), generator=g)] + 0.6 * torch.randn(n, d_in, generator=g)
    x = x / x.norm(dim=1, keepdim=True)
    y = torch.tanh(2.0 * x @ torch.randn(d_in, d_out, generator=g)) + 0.1 * torch.randn(n, d_out, generator=g)
    return x, y


@pytest.mark.parametrize("seed", range(4))
def test_the_screened_kernel_setting_is_the_exhaustive_one(seed):
    """`choose_kernel_setting` (gamma screened on a sample of the centres, then one eigendecomposition of the full
    kernel) against the reference, every (alpha, gamma) on every centre; a small screen so the screening runs here."""
    x, y = _curved_words(360, seed)
    xm, ym = x.double(), y.double() - y.double().mean(0)
    sq, dot = kernel_parts(xm, xm)
    reference = choose_kernel_setting_exhaustive(sq, dot, ym, KERNEL_ALPHAS, KERNEL_GAMMAS)
    for margin in (0.0, 0.1):
        fast = choose_kernel_setting(sq, dot, ym, KERNEL_ALPHAS, KERNEL_GAMMAS, screen=120, margin=margin)
        assert fast[:2] == reference[:2]
        assert all(torch.equal(a, b) for a, b in zip(fast[2], reference[2]))  # the same eigendecomposition
    coef, mean, alpha, gamma = fit_kernel_ridge(x, y, torch.arange(360))
    ref_coef, ref_mean, ref_alpha, ref_gamma = fit_kernel_ridge(x, y, torch.arange(360), exhaustive=True)
    assert (alpha, gamma) == (ref_alpha, ref_gamma) and torch.equal(coef, ref_coef) and torch.equal(mean, ref_mean)


def test_a_close_call_between_gammas_is_decided_on_every_centre():
    """Every gamma within the margin of the screen's best goes to the full problem: with an infinite margin the choice
    is the exhaustive one whatever the sample says."""
    x, y = _curved_words(300, 7)
    xm, ym = x.double(), y.double() - y.double().mean(0)
    sq, dot = kernel_parts(xm, xm)
    reference = choose_kernel_setting_exhaustive(sq, dot, ym, KERNEL_ALPHAS, KERNEL_GAMMAS)
    assert (
        choose_kernel_setting(sq, dot, ym, KERNEL_ALPHAS, KERNEL_GAMMAS, screen=20, margin=float("inf"))[:2]
        == (reference[:2])
    )
    assert torch.equal(kernel_matrix(xm, xm, 2.0), torch.exp(-2.0 * sq) + 0.1 * dot)  # one kernel, two ways


@pytest.mark.parametrize("kind", ["ridge", "mlp", "kernel"])
def test_adapters_generalize_where_lookup_tables_cannot(kind):
    x, teacher = linear_world()
    items = [f"w{i}" for i in range(len(x))]
    records, _ = run_student(kind, items, teacher, x, epochs=10, lr=1e-3)
    table, _ = run_student("B", items, teacher, epochs=30, lr=0.05)
    assert records[-1].heldout_cosine > 0.95
    assert records[-1].heldout_cosine > table[-1].heldout_cosine + 0.2
    assert len(records) == (10 if kind == "mlp" else 1)


def test_mlp_adapter_starts_at_the_ridge_solution():
    x, teacher = linear_world(seed=2)
    items = [f"w{i}" for i in range(len(x))]
    ridge, _ = run_student("ridge", items, teacher, x)
    dataset = build_dataset(items, teacher, 0.3, 0.0, 0)
    model = build_student(StudentConfig("mlp", len(items), 16, in_dim=12), seed=0, items=items, features=x)
    model.prepare(torch.as_tensor(dataset.train_idx), torch.as_tensor(dataset.targets))
    start = model.predict_all().numpy()
    held = dataset.heldout_idx
    assert float((start[held] * teacher[held]).sum(1).mean()) == pytest.approx(ridge[0].heldout_cosine, abs=1e-5)


def test_subword_student_learns_from_character_ngrams():
    # A teacher whose vectors are made of the words' suffixes: only n-grams can predict held-out words.
    rng = np.random.default_rng(0)
    stems = ["".join(rng.choice(list("bcdfgklmnprstvz"), 4)) for _ in range(120)]
    suffixes = {
        "ing": rng.normal(size=16),
        "ness": rng.normal(size=16),
        "ly": rng.normal(size=16),
        "er": rng.normal(size=16),
    }
    items = [s + suf for s in stems for suf in suffixes]
    teacher = unit(
        np.stack([suffixes[next(k for k in suffixes if w.endswith(k))] + 0.3 * rng.normal(size=16) for w in items])
    )
    records, dataset = run_student("subword", items, teacher, p=0.3, epochs=30, lr=0.01)
    mean = unit(teacher[dataset.train_idx].mean(0, keepdims=True))[0]
    baseline = float((teacher[dataset.heldout_idx] @ mean).mean())
    assert records[-1].heldout_cosine > max(0.85, baseline + 0.3)


def test_ngram_ids_are_stable_and_bounded():
    assert ngram_ids("cat") == ngram_ids("cat")  # crc32, not the salted built-in hash
    assert len(ngram_ids("cat")) == 7 and all(0 <= i < 1 << 15 for i in ngram_ids("knowledge"))
    assert ngram_ids("", buckets=8)  # even an empty item has its boundary n-gram


def test_config_rules_for_new_students():
    assert TrainConfig(model="Ridge", epochs=50).epochs == 1  # closed form: one step
    assert TrainConfig(model="ridge", teacher="mpnet").cheap == "minilm"
    assert TrainConfig(model="mlp", teacher="minilm").cheap == "static-mpnet"  # never dearer than the teacher
    assert TrainConfig(model="B", cheap="minilm").cheap == ""  # only adapters read a cheap model
    assert StudentKind.parse("subword").label == "Subword" and StudentKind.SUBWORD.generalizes
    with pytest.raises(ValueError, match="ridge"):
        TrainConfig(model="C")


@pytest.mark.parametrize("kind", ["ridge", "mlp", "kernel", "subword"])
def test_stored_runs_reload_with_the_same_vectors(tmp_path, kind):
    words = [f"w{i:03d}" for i in range(120)]
    cache = tmp_path / "cache"
    prepared = prepare_items(words, "none", CachedTeacher(HashTeacher(16), cache))
    CachedTeacher(HashTeacher(8, name="cheap"), cache).embed(words)  # the cheap encoder's cache
    CachedTeacher(LayerFeatures(HashTeacher(8, name="cheap")), cache).embed(
        words
    )  # and its "layers" (the fake has none)
    config = TrainConfig(teacher="hash-16", model=kind, p=0.5, epochs=3, batch_size=16, cheap="cheap-8")
    run = TrainingRun(config, prepared, tmp_path / "runs", device="cpu", cache_root=cache)
    records = list(run)
    stored = load_run(tmp_path / "runs", run.run_id)
    vectors = run_vectors(stored, cache)
    held = run.dataset.heldout_idx
    cos = float((vectors.student[held] * vectors.teacher[held]).sum(1).mean())
    assert cos == pytest.approx(records[-1].heldout_cosine, abs=1e-5)
    assert list_runs(tmp_path / "runs")["model"][0] == kind
    if kind != "subword":
        assert stored.meta["cheap_id"] == ("cheap-8-layers" if kind == "kernel" else "cheap-8")


def test_evaluate_run_scores_student_teacher_and_baseline(tmp_path):
    words = [f"w{i:03d}" for i in range(60)]
    cache = tmp_path / "cache"
    prepared = prepare_items(words, "none", CachedTeacher(HashTeacher(16), cache))
    run = TrainingRun(
        TrainConfig(teacher="hash-16", model="B", p=0.5, epochs=2, batch_size=16),
        prepared,
        tmp_path / "runs",
        device="cpu",
    )
    list(run)
    from core.evaluation.benchmarks import Analogy, Benchmarks, WordPair

    bench = Benchmarks((Analogy("s", "w001", "w002", "w003", "w004"),), (WordPair("w001", "w002", 1.0),), ())
    result = evaluate_run(load_run(tmp_path / "runs", run.run_id), cache, "all", bench)
    names = [row["model"] for row in result.table()]
    assert names == ["Model B", "teacher", "average vector"]
    assert result.teacher.cosine == pytest.approx(1.0) and result.words_in_scope == 60
    assert result.summary()["teacher_queries"] == 30


@pytest.mark.slow
def test_real_teachers_adapters_beat_lookup_tables_and_baseline(capsys):
    """MPNet teacher, MiniLM as the cheap model, 2,000 common words, p = 0.1 (200 queries)."""
    from core.__main__ import main

    finals = {}
    for model in ("kernel", "ridge", "B"):
        assert (
            main(
                [
                    "train",
                    "--teacher",
                    "mpnet",
                    "--size",
                    "2000",
                    "--model",
                    model,
                    "--p",
                    "0.1",
                    "--epochs",
                    "20",
                    "--json",
                ]
            )
            == 0
        )
        finals[model] = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert main(["evaluate", "--run", finals["kernel"]["run_id"], "--json"]) == 0
    ev = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert ev["heldout_cosine"] == pytest.approx(finals["kernel"]["heldout_cosine"], abs=1e-4)
    assert ev["heldout_cosine"] > ev["baseline_cosine"] + 0.1  # the baseline is ~0.45 on mpnet
    assert finals["kernel"]["heldout_cosine"] > finals["ridge"]["heldout_cosine"] > finals["B"]["heldout_cosine"]
    assert ev["analogy_questions"] > 0 and ev["teacher_analogy_accuracy"] > 0.3


@pytest.mark.slow
def test_cli_evaluates_the_real_teacher(capsys):
    from core.__main__ import main

    assert main(["evaluate", "--teacher", "minilm", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert out["analogy_questions"] == 6148 and 0.6 < out["analogy_accuracy"] < 0.8
    assert 0.3 < out["simlex_spearman"] < 0.6 and 0.6 < out["wordsim_spearman"] < 0.85 and out["ms_per_1k"] > 0
