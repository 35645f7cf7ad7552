"""Exported sentence adapters: save -> SentenceTransformer(path) -> the same vectors as in the lab."""

from __future__ import annotations

import numpy as np
import pytest

from core.data.sentences import default_sentences
from core.sentences.adapters import AdapterConfig, embed_with, train_adapter
from core.sentences.export import ExportUnavailable, export_adapter
from core.sentences.features import text_features
from core.teachers.teacher import HashTeacher


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["ridge", "mlp", "finetune"])
def test_export_round_trip_gives_the_same_vectors(tmp_path, arch):
    from sentence_transformers import SentenceTransformer

    from core.teachers.teacher import load_teacher

    texts = list(default_sentences().texts[:160])
    cheap = load_teacher("minilm", "cpu")
    features = text_features(cheap, texts)
    targets = HashTeacher(32).embed(texts)
    config = AdapterConfig(arch=arch, p=0.5, epochs=3, lr=1e-2, teacher="hash-32")
    for model, _ in train_adapter(config, features, targets, "cpu", encoder=cheap):
        pass
    lab = embed_with(model, features)
    before = cheap.model.max_seq_length
    folder = export_adapter(model, config, cheap, tmp_path / "exported", card={"heldout_cosine": 0.5})
    assert cheap.model.max_seq_length == before  # the shared cheap model is not changed by an export
    loaded = SentenceTransformer(str(folder), device="cpu")  # plain: no trust_remote_code, no lab code
    again = loaded.encode(texts, convert_to_numpy=True, batch_size=32)
    assert again.shape == lab.shape
    np.testing.assert_allclose(again, lab, atol=1e-4)
    assert (folder / "lab_card.json").exists()


@pytest.mark.slow
@pytest.mark.parametrize("arch,pooling", [("attention", "cls"), ("rnn", "max")])
def test_token_adapters_export_with_one_file_of_code(tmp_path, arch, pooling):
    from sentence_transformers import SentenceTransformer

    from core.teachers.teacher import load_teacher

    texts = list(default_sentences().texts[:120])
    cheap = load_teacher("minilm", "cpu")
    features = text_features(cheap, texts)
    targets = HashTeacher(32).embed(texts)
    config = AdapterConfig(arch=arch, pooling=pooling, p=0.5, epochs=2, lr=1e-2, hidden=32, teacher="hash-32")
    for model, _ in train_adapter(config, features, targets, "cpu"):
        pass
    lab = embed_with(model, features)
    folder = export_adapter(model, config, cheap, tmp_path / "exported")
    code = (folder / "modeling_lab_adapter.py").read_text()
    assert "from core" not in code and "import core" not in code  # it must load where the lab is not installed
    with pytest.raises(ValueError, match="trust_remote_code"):
        SentenceTransformer(str(folder), device="cpu")  # sentence-transformers refuses custom code unless asked
    loaded = SentenceTransformer(str(folder), device="cpu", trust_remote_code=True)
    again = loaded.encode(texts, convert_to_numpy=True, batch_size=32)
    np.testing.assert_allclose(again, lab, atol=1e-4)


def test_fake_models_get_a_sentence(tmp_path):
    features = text_features(HashTeacher(16), ["a b c", "d e f", "g h i", "j k l"])
    for config in (AdapterConfig(arch="rnn", p=0.5, epochs=1), AdapterConfig(arch="ridge", p=0.5)):
        model, _ = next(train_adapter(config, features, HashTeacher(8).embed(["1", "2", "3", "4"]), "cpu"))
        with pytest.raises(ExportUnavailable, match="fake test model"):
            export_adapter(model, config, HashTeacher(16), tmp_path)
