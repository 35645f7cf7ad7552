"""The sentence-adapter experiment shared by the Adapter lab and `python -m core adapter`
(core.sentences.experiment), and the one average-vector baseline (core.evaluation.evaluate.baseline_scores)."""

import numpy as np
import pytest

from core.evaluation.evaluate import average_baseline, baseline_scores
from core.sentences.adapters import AdapterConfig
from core.sentences.experiment import AdapterExperiment, adapter_split
from core.sentences.features import text_features
from core.teachers.teacher import HashTeacher


def test_baseline_scores_on_hand_built_vectors():
    teacher = np.array([[1, 0], [0, 1], [1, 0], [0, 1]], dtype=np.float32)
    cos, euclid = baseline_scores(teacher, teacher, [0, 1], [2, 3])  # the average answer is (0.707, 0.707)
    assert cos == pytest.approx(np.sqrt(0.5)) and euclid == pytest.approx(np.sqrt(2 - 2 * np.sqrt(0.5)))
    poisoned = teacher.copy()
    poisoned[1] = [1, 0]  # the answers paid for, not the truth, make the average: (1, 0)
    assert baseline_scores(teacher, poisoned, [0, 1], [2, 3])[0] == pytest.approx(0.5)
    assert np.isnan(baseline_scores(teacher, teacher, [0, 1], [])[0])


def test_the_words_baseline_and_the_sentences_baseline_agree():
    rng = np.random.default_rng(0)
    teacher = rng.normal(size=(30, 5)).astype(np.float32)
    teacher /= np.linalg.norm(teacher, axis=1, keepdims=True)
    train, held = np.arange(10), np.arange(10, 30)
    vectors = average_baseline(teacher, teacher, train)  # every held-out word gets the same unit vector
    assert np.allclose(vectors[train], teacher[train])
    cos = float((vectors[held] * teacher[held]).sum(1).mean())
    assert cos == pytest.approx(baseline_scores(teacher, teacher, train, held)[0], abs=1e-6)


def test_a_split_with_too_few_texts_is_refused_with_a_sentence():
    with pytest.raises(ValueError, match="fewer than 2 to learn from"):
        adapter_split(AdapterConfig(p=0.01), 50)
    train, held = adapter_split(AdapterConfig(p=0.5), 50)
    assert len(train) + len(held) == 50 and not set(train) & set(held)


def test_the_experiment_keeps_the_best_epoch_and_sums_it_up():
    rng = np.random.default_rng(1)
    words = [f"w{i}" for i in range(20)]
    texts = [" ".join(rng.choice(words, size=4)) for _ in range(80)]
    cheap = HashTeacher(8)
    teacher = HashTeacher(12).embed(texts)
    config = AdapterConfig(arch="mlp", p=0.5, epochs=3, hidden=16, batch_size=16)
    experiment = AdapterExperiment(config, text_features(cheap, texts), teacher, "cpu")
    assert experiment.best is None and experiment.model is None
    records = list(experiment)
    assert [r.epoch for r in records] == [1, 2, 3] and experiment.model is not None
    best = max(records, key=lambda r: (r.heldout_cosine, -r.epoch))
    assert experiment.best is best
    summary = experiment.summary()
    assert summary["best_epoch"] == best.epoch and summary["heldout_cosine"] == best.heldout_cosine
    assert summary["train_texts"] + summary["heldout_texts"] == 80 and summary["arch"] == "mlp"
    assert summary["baseline_cosine"] == pytest.approx(
        baseline_scores(teacher, teacher, experiment.train_idx, experiment.heldout_idx)[0]
    )
