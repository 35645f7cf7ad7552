"""Sentence adapters (core.sentences.adapters) on a tiny synthetic world, and the sentence collections."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.data.dataset import split_indices
from core.data.sentences import default_sentences, sentences_from_paste, sentences_from_upload
from core.evaluation.evaluate import baseline_scores
from core.sentences.adapters import ARCHS, POOLINGS, AdapterConfig, embed_with, pool, train_adapter
from core.sentences.features import text_features
from core.teachers.teacher import HashTeacher

VOCAB = [f"w{i}" for i in range(60)]


def world(n=400, seed=0):
    """Texts of 3-8 random words; the 'teacher' is a fixed non-linear function of the words' (hash) vectors,
    so the cheap encoder's tokens carry what it needs, and the average vector is a poor answer."""
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(VOCAB, size=rng.integers(3, 9))) for _ in range(n)]
    cheap = HashTeacher(16)
    words = {w: v for w, v in zip(VOCAB, cheap.embed(VOCAB))}
    m = rng.normal(size=(16, 24))
    teacher = np.stack(
        [
            np.tanh(np.mean([words[w] for w in t.split()], axis=0) @ m)
            + 0.3 * np.max([words[w] for w in t.split()], axis=0) @ m
            for t in texts
        ]
    )
    teacher = teacher - teacher.mean(0) + 0.5 * teacher.std(0)  # a modest shared direction, like real teachers
    teacher = (teacher / np.linalg.norm(teacher, axis=1, keepdims=True)).astype(np.float32)
    return texts, cheap, teacher


@pytest.fixture(scope="module")
def data():
    texts, cheap, teacher = world()
    return text_features(cheap, texts), teacher


@pytest.mark.parametrize(
    "arch,pooling",
    [
        ("ridge", "mean"),
        ("mlp", "mean"),  # the fast twins of the token adapters below (30 s to 2 min each on a busy 2-core machine)
        *[pytest.param(a, p, marks=pytest.mark.slow) for a in ("attention", "rnn") for p in POOLINGS],
    ],
)
def test_every_adapter_beats_the_average_vector(data, arch, pooling):
    features, teacher = data
    config = AdapterConfig(arch=arch, pooling=pooling, p=0.5, epochs=30, lr=3e-3, batch_size=32, hidden=64)
    records = [r for _, r in train_adapter(config, features, teacher, "cpu")]
    base_cos, base_euc = baseline_scores(teacher, teacher, *split_indices(len(teacher), 0.5, 0))
    last = records[-1]
    assert last.heldout_cosine > base_cos + 0.2, (last, base_cos)  # measured: baseline 0.46, adapters 0.86-0.92
    assert last.heldout_euclidean < base_euc
    assert len(records) == (1 if arch == "ridge" else 30)


def test_token_adapters_start_at_the_average_vector(data):
    features, teacher = data
    model, first = next(train_adapter(AdapterConfig(arch="rnn", p=0.5, epochs=1, lr=1e-12), features, teacher, "cpu"))
    base_cos, _ = baseline_scores(teacher, teacher, *split_indices(len(teacher), 0.5, 0))
    assert first.heldout_cosine == pytest.approx(base_cos, abs=1e-4)


def test_pooling():
    states = torch.tensor([[[1.0, 5.0], [3.0, -1.0], [100.0, 100.0]]])
    mask = torch.tensor([[True, True, False]])
    assert pool(states, mask, "cls").tolist() == [[1.0, 5.0]]
    assert pool(states, mask, "mean").tolist() == [[2.0, 2.0]]
    assert pool(states, mask, "max").tolist() == [[3.0, 5.0]]


def test_config_is_checked():
    with pytest.raises(ValueError, match="arch must be one of"):
        AdapterConfig(arch="lstm-xl")
    with pytest.raises(ValueError, match="not 1"):
        AdapterConfig(p=1.0)
    with pytest.raises(ValueError, match="pooling must be one of"):
        AdapterConfig(pooling="first")
    assert AdapterConfig(arch="ridge", epochs=50).epochs == 1
    with pytest.raises(ValueError, match="multiple of 4"):
        AdapterConfig(arch="attention", hidden=10)
    with pytest.raises(ValueError, match="must be even"):
        AdapterConfig(arch="rnn", hidden=9)
    assert set(ARCHS) == {"ridge", "mlp", "attention", "rnn", "finetune"}
    with pytest.raises(ValueError, match="encoder_lr"):
        AdapterConfig(arch="finetune", encoder_lr=0.0)


def test_default_sentences_install_with_the_project():
    s = default_sentences()
    assert len(s.texts) > 2500 and len(set(s.texts)) == len(s.texts)
    assert s.label.startswith("default-") and all(t.strip() == t and t for t in s.texts)


@pytest.mark.parametrize(
    "name,data,message",
    [
        ("empty.txt", b"", "No usable text"),
        ("blank.txt", b"\n \n\t\n", "No usable text"),
        ("binary.txt", b"\x00\x01\x02abc", "binary"),
        ("latin.txt", "caf\xe9".encode("latin-1"), "not UTF-8"),
        ("huge.txt", b"a\n" * (6 * 2**20), "limit is"),
        ("columns.csv", b"id,review\n1,Great film\n2,Dull\n", "name the column"),
        ("broken.csv", b'text\n"' + b"x" * 200_000 + b"\n", "not a readable CSV"),
    ],
)
def test_bad_uploads_get_a_sentence(name, data, message):
    with pytest.raises(ValueError, match=message):
        sentences_from_upload(name, data)


def test_uploads_and_paste():
    csv = b'id,text\n1,"Hello, world."\n2,=HYPERLINK("x")\n3,Hello, world.\n'
    s = sentences_from_upload("mine.csv", csv)
    # a formula stays text; row 3's unquoted comma gives it more cells than the header: dropped and counted, not cut
    assert s.texts == ("Hello, world.", '=HYPERLINK("x")')
    assert s.dropped["CSV rows with more cells than the header (quote a text that holds a comma)"] == 1
    t = sentences_from_upload("mine.txt", b"One.\nTwo.\nOne.\n\n")
    assert t.texts == ("One.", "Two.") and t.dropped["duplicate"] == 1 and t.dropped["empty"] == 1
    assert sentences_from_paste("a b\n<script>x</script>").texts == ("a b", "<script>x</script>")
    assert sentences_from_upload("one.csv", b"first text\nsecond text\n").texts == ("first text", "second text")


def test_cli_adapter_json(tmp_path, capsys):
    import json

    from core.__main__ import main

    texts, _, _ = world(120)
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(texts))
    code = main(
        [
            "adapter",
            "--cheap",
            "hash-16",
            "--teacher",
            "hash-32",
            "--texts",
            str(path),
            "--arch",
            "rnn",
            "--pooling",
            "max",
            "--p",
            "0.5",
            "--epochs",
            "3",
            "--json",
        ]
    )
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["epoch"] for line in lines[:-1]] == [1, 2, 3]
    final = lines[-1]
    assert {
        "heldout_cosine",
        "heldout_euclidean",
        "baseline_cosine",
        "cheap_ms_per_1k",
        "teacher_ms_per_1k",
        "adapter_ms_per_1k",
    } <= set(final)
    assert final["arch"] == "rnn" and final["pooling"] == "max" and final["heldout_texts"] > 0


def test_cli_adapter_bad_flags_are_one_sentence(capsys):
    from core.__main__ import main

    assert main(["adapter", "--arch", "transformer-xl", "--teacher", "hash-32", "--cheap", "hash-16"]) == 2
    assert "arch must be one of" in capsys.readouterr().err
    assert main(["adapter", "--texts", "/nope.txt"]) == 2
    assert "There is no file" in capsys.readouterr().err


@pytest.mark.slow
def test_finetuning_the_cheap_encoder(tmp_path):
    """The distillation recipe on the real MiniLM: starts at the ridge map, learns (training loss falls), beats
    the average vector on unseen texts, and leaves the shared cheap model untouched."""
    from core.teachers.teacher import load_teacher

    texts = list(default_sentences().texts[:120])
    cheap = load_teacher("minilm", "cpu")
    features = text_features(cheap, texts)
    assert features.ids is not None and features.ids.shape == features.mask.shape
    rng = np.random.default_rng(0)
    m = rng.normal(size=(features.dim, 48)).astype(np.float32)
    teacher = np.tanh(3 * features.pooled.numpy() @ m)  # a non-linear view of the texts the student can learn
    teacher = (teacher / np.linalg.norm(teacher, axis=1, keepdims=True)).astype(np.float32)
    shared = {k: v.clone() for k, v in cheap.model[0].auto_model.state_dict().items()}

    ridge = [r for _, r in train_adapter(AdapterConfig(arch="ridge", p=0.5), features, teacher, "cpu")][-1]
    frozen = [
        r
        for _, r in train_adapter(
            AdapterConfig(arch="finetune", p=0.5, epochs=1, lr=1e-12, encoder_lr=1e-12),
            features,
            teacher,
            "cpu",
            encoder=cheap,
        )
    ][-1]
    assert frozen.heldout_cosine == pytest.approx(ridge.heldout_cosine, abs=1e-3)  # epoch 0 is the ridge adapter

    config = AdapterConfig(arch="finetune", p=0.5, epochs=4, lr=1e-3, encoder_lr=1e-4, batch_size=16)
    runs = list(train_adapter(config, features, teacher, "cpu", encoder=cheap))
    model, records = runs[-1][0], [r for _, r in runs]
    base_cos, _ = baseline_scores(teacher, teacher, *split_indices(len(texts), 0.5, 0))
    assert records[-1].train_loss < records[0].train_loss
    assert records[-1].heldout_cosine > base_cos + 0.1, (records[-1], base_cos)
    changed = any(not torch.equal(v, model.encoder.state_dict()[k]) for k, v in shared.items())
    assert changed  # the copy was trained ...
    assert all(
        torch.equal(v, cheap.model[0].auto_model.state_dict()[k]) for k, v in shared.items()
    )  # ... the shared model was not
    # the playground's path: a new text through the fine-tuned encoder
    one = embed_with(model, text_features(cheap, [texts[-1]]))
    np.testing.assert_allclose(one[0], embed_with(model, features)[-1], atol=1e-5)


def test_finetuning_needs_a_real_encoder(data):
    features, teacher = data
    with pytest.raises(ValueError, match="real transformer"):
        next(train_adapter(AdapterConfig(arch="finetune", p=0.5), features, teacher, "cpu", encoder=HashTeacher(16)))
