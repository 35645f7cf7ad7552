import pytest
import torch

from core.config import TrainConfig
from core.evaluation.metrics import rowwise_cosine
from core.runs.experiment import TrainingRun, prepare_items
from core.runs.store import list_runs, load_run
from core.teachers.teacher import CachedTeacher, HashTeacher

WORDS = [f"w{i:03d}" for i in range(300)]


@pytest.fixture
def prepared(tmp_path):
    return prepare_items(WORDS, "none", CachedTeacher(HashTeacher(16), tmp_path / "cache"))


@pytest.mark.parametrize("model", ["A", "B"])
def test_training_lowers_the_loss_and_records_every_epoch(prepared, tmp_path, model):
    config = TrainConfig(teacher="hash-16", model=model, p=0.5, epochs=15, batch_size=32, lr=0.05)
    run = TrainingRun(config, prepared, tmp_path / "runs", device="cpu")
    records = list(run)
    assert [r.epoch for r in records] == list(range(1, 16))
    assert records[-1].train_loss < records[0].train_loss
    assert records[-1].train_cosine > records[0].train_cosine
    assert all(r.seconds >= r.epoch_seconds > 0 for r in records)
    assert records[-1].embedding_means.shape == (300,)
    assert run.run_id and run.teacher_queries == 150


def test_model_b_learns_the_average_direction_for_held_out_words(prepared, tmp_path):
    # Lookup-table students never see held-out rows, but Model B's shared layers still move
    # every output towards the teacher's mean direction (teachers are anisotropic).
    run = TrainingRun(
        TrainConfig(teacher="hash-16", model="B", p=0.5, epochs=20, batch_size=32, lr=0.05),
        prepared,
        tmp_path,
        device="cpu",
    )
    held = torch.as_tensor(run.dataset.heldout_idx)
    clean = torch.as_tensor(run.dataset.clean)
    before = float(rowwise_cosine(run.model.predict_all()[held], clean[held]).mean())
    records = list(run)
    assert before < 0.3 and records[-1].heldout_cosine > before + 0.4
    assert records[-1].train_cosine > records[-1].heldout_cosine


def test_same_seed_same_curve(prepared, tmp_path):
    config = TrainConfig(teacher="hash-16", p=0.3, epochs=4, batch_size=16, poison=0.1, seed=11)
    a = [r.scalars() for r in TrainingRun(config, prepared, tmp_path / "a", device="cpu")]
    b = [r.scalars() for r in TrainingRun(config, prepared, tmp_path / "b", device="cpu")]
    assert len(a) == len(b) == 4
    for ra, rb in zip(a, b):
        assert ra["train_loss"] == rb["train_loss"] and ra["heldout_cosine"] == rb["heldout_cosine"]


def test_poisoned_training_loss_is_measured_on_poisoned_targets(prepared, tmp_path):
    clean = list(
        TrainingRun(
            TrainConfig(teacher="hash-16", p=1.0, epochs=10, batch_size=32, lr=0.05),
            prepared,
            tmp_path / "c",
            device="cpu",
        )
    )
    dirty = list(
        TrainingRun(
            TrainConfig(teacher="hash-16", p=1.0, epochs=10, batch_size=32, lr=0.05, poison=0.3),
            prepared,
            tmp_path / "d",
            device="cpu",
        )
    )
    assert dirty[-1].train_loss > clean[-1].train_loss
    assert clean[-1].heldout_cosine is None and clean[-1].heldout_euclidean is None  # p = 1: nothing held out


def test_stop_between_epochs_keeps_finished_epochs(prepared, tmp_path):
    run = TrainingRun(
        TrainConfig(teacher="hash-16", p=0.5, epochs=50),
        prepared,
        tmp_path,
        device="cpu",
        should_stop=lambda: len(run.records) >= 3,
    )
    assert len(list(run)) == 3
    stored = load_run(tmp_path, run.run_id)
    assert stored.meta["status"] == "stopped" and stored.epochs.height == 3
    assert list_runs(tmp_path)["status"].to_list() == ["stopped"]


def test_a_closed_generator_still_saves(prepared, tmp_path):
    run = TrainingRun(TrainConfig(teacher="hash-16", p=0.5, epochs=50), prepared, tmp_path, device="cpu")
    it = iter(run)
    next(it), next(it)
    it.close()  # what happens when a consumer breaks out or is interrupted
    assert load_run(tmp_path, run.run_id).epochs.height == 2


def test_lemma_mode_must_match_the_prepared_data(prepared, tmp_path):
    with pytest.raises(ValueError, match="prepared with lemmatization 'none'"):
        TrainingRun(TrainConfig(teacher="hash-16", lemmatize="spacy"), prepared, tmp_path)


@pytest.mark.slow
def test_real_minilm_model_b_learns(tmp_path):
    from core.data.corpus import default_vocabulary
    from core.teachers.teacher import load_teacher

    words = default_vocabulary(2000).words
    teacher = CachedTeacher(load_teacher("minilm", "cpu"), tmp_path / "cache")
    prepared = prepare_items(words, "spacy", teacher)
    assert len(prepared.items) < 2000  # lemmatization merged some words
    run = TrainingRun(
        TrainConfig(p=0.3, epochs=10, lemmatize="spacy", poison=0.1), prepared, tmp_path / "runs", device="cpu"
    )
    records = list(run)
    assert records[-1].train_loss < records[0].train_loss - 0.05
    assert records[-1].heldout_cosine > 0.3  # at least the teacher's average direction
    summary = run.summary()
    assert summary["teacher"] == "all-MiniLM-L6-v2" and summary["poisoned_in_train"] > 0


@pytest.mark.parametrize("model_kind", ["A", "B"])
def test_training_only_the_training_rows_is_exactly_dense_adam(prepared, tmp_path, model_kind, adam_path):
    """The engine's optimizer holds only training rows; a plain loop with Adam over the whole
    table (the way a user writes it) must reach the same weights, held-out rows untouched."""
    from core.data.dataset import build_dataset
    from core.evaluation.metrics import cosine_embedding_loss
    from core.words.students import StudentConfig, build_student
    from core.words.train import train_student

    config = TrainConfig(teacher="hash-16", model=model_kind, p=0.3, epochs=5, batch_size=16, lr=0.01, poison=0.1)
    dataset = build_dataset(prepared.items, prepared.clean, config.p, config.poison, config.seed)
    ours = build_student(StudentConfig(model_kind, 300, 16), seed=3)
    reference = build_student(StudentConfig(model_kind, 300, 16), seed=3)
    initial = reference.embedding.weight.detach().clone()
    records = list(train_student(ours, dataset, config, "cpu"))

    targets = torch.as_tensor(dataset.targets)
    train_idx = torch.as_tensor(dataset.train_idx)
    optimizer = torch.optim.Adam(reference.parameters(), lr=config.lr)
    shuffle = torch.Generator().manual_seed(config.seed + 7919)  # the engine's batch order
    for _ in range(config.epochs):
        order = train_idx[torch.randperm(len(train_idx), generator=shuffle)]
        for s in range(0, len(order), config.batch_size):
            batch = order[s : s + config.batch_size]
            loss = cosine_embedding_loss(reference(batch), targets[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    assert len(list(ours.parameters())) == len(list(reference.parameters())) == (5 if model_kind == "B" else 1)
    for (name, a), b in zip(ours.named_parameters(), reference.parameters()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4, msg=name)
    held = torch.as_tensor(dataset.heldout_idx)
    torch.testing.assert_close(ours.embedding.weight[held], initial[held], atol=0, rtol=0)
    assert records[-1].train_loss < records[0].train_loss


@pytest.mark.parametrize("defence", ["trimmed", "small-loss"])
def test_lazy_rows_follow_dense_adam_under_a_defence(prepared, monkeypatch, defence):
    """A trimmed epoch leaves some rows out of every batch: they still take its zero-gradient steps."""
    from core.data.dataset import build_dataset
    from core.kernels import lazy_adam
    from core.words.students import StudentConfig, build_student
    from core.words.train import train_student

    if not lazy_adam.available():
        pytest.skip("numba is not installed")
    config = TrainConfig(
        teacher="hash-16", model="B", p=0.5, epochs=6, batch_size=32, lr=0.01, poison=0.2, defence=defence, trim=0.2
    )
    dataset = build_dataset(prepared.items, prepared.clean, config.p, config.poison, config.seed)
    weights, losses = {}, {}
    for path in ("lazy", "dense"):
        monkeypatch.setattr(lazy_adam, "available", lambda path=path: path == "lazy")
        model = build_student(StudentConfig("B", 300, 16), seed=3)
        losses[path] = [r.train_loss for r in train_student(model, dataset, config, "cpu")]
        weights[path] = model.state_dict()
    assert losses["lazy"] == pytest.approx(losses["dense"], abs=1e-5)
    for name, tensor in weights["dense"].items():
        torch.testing.assert_close(weights["lazy"][name], tensor, atol=1e-5, rtol=1e-4, msg=name)


def test_direct_fused_adam_is_torchs_adam():
    from core.kernels.fast import DirectFusedAdam

    g = torch.Generator().manual_seed(0)
    a = [torch.randn(50, 8, generator=g), torch.randn(8, generator=g)]
    b = [t.clone() for t in a]
    ours = DirectFusedAdam(a, lr=0.01)
    theirs = torch.optim.Adam(b, lr=0.01)
    for _ in range(5):
        grads = [torch.randn(t.shape, generator=g) for t in a]
        for p, q, grad in zip(a, b, grads):
            p.grad, q.grad = grad.clone(), grad.clone()
        ours.step()
        theirs.step()
    for p, q in zip(a, b):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=1e-6)
