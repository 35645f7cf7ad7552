"""One forward pass per model and list of texts (core/teachers/one_pass.py and the warm-up steps built on it): the
sentence vectors, layer features and token outputs it gives are what each cache held when every view had its own
pass (`SentenceTransformerTeacher.embed`, `LayerFeatures.embed`, `text_features`), on a tiny BERT and, marked slow,
on the real MiniLM; the warm-up's word and sentence steps fill both caches from one pass."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core import warm
from core.context import Lab
from core.teachers.one_pass import encode_views, one_pass_supported
from core.teachers.teacher import (
    CachedTeacher,
    HashTeacher,
    LayerFeatures,
    SentenceTransformerTeacher,
    cached_count,
    cached_vectors,
    layer_features_id,
    teacher_id_for,
)

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = "the a cat dog sat on mat king queen man woman walk run red blue big small city sun moon".split()
VOCAB = SPECIALS + WORDS + ["##s", "##ing", "##ed", ".", ",", "!"]
LONG = " ".join(WORDS[i % len(WORDS)] for i in range(90))  # 92 tokens: cut at 64 for layers and tokens, not whole
TEXTS = ["cat", "dogs", "the red cat sat on the mat.", "walking", "a big city, a small moon!", "queen", LONG, "sun"]


def close(a, b) -> None:
    """Identical to float tolerance: max abs diff <= 1e-5 and every row's cosine >= 0.99999."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape
    assert np.abs(a - b).max() <= 1e-5
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.min() >= 0.99999


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> SentenceTransformerTeacher:
    """A tiny BERT (3 layers, 32 wide, random weights) loaded as a sentence-transformers model (mean pooling)."""
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import BertConfig, BertModel, BertTokenizer

    folder = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).eval().save_pretrained(folder)
    BertTokenizer(vocab={t: i for i, t in enumerate(VOCAB)}).save_pretrained(folder)
    model = SentenceTransformer(str(folder), device="cpu")
    model.max_seq_length = 128
    return SentenceTransformerTeacher(model, "tiny-bert")


def test_one_pass_gives_each_cache_its_own_numbers(tiny):
    from core.sentences.features import text_features

    assert one_pass_supported(tiny)
    views = encode_views(tiny, TEXTS, layers=True, tokens=True)
    close(views.sentence, tiny.embed(TEXTS))  # the long text's vector read whole, as the teacher's own
    close(views.layers, LayerFeatures(tiny).embed(TEXTS))  # 3 layers x 32
    assert views.layers.shape == (len(TEXTS), 3 * 32)
    features = text_features(tiny, TEXTS)
    for i in range(len(TEXTS)):
        real = features.mask[i]
        assert views.tokens[i].shape == (int(real.sum()), 32)
        close(views.tokens[i], features.tokens[i][real].numpy())
        assert (views.ids[i] == features.ids[i][real].numpy()).all()
    assert len(views.tokens[TEXTS.index(LONG)]) == 64  # cut where text_features cuts


def test_no_texts_no_pass(tiny):
    views = encode_views(tiny, [], layers=True, tokens=True)
    assert views.sentence.shape == (0, 32) and views.layers.shape == (0, 3 * 32) and views.tokens == []


def test_the_long_text_is_what_makes_the_second_pass(tiny):
    """Break the second pass and its vector is the 64-token one: what the test above would catch."""
    whole = tiny.embed([LONG])
    cut = encode_views(tiny, [LONG], max_tokens=64, layers=False).sentence
    close(cut, whole)
    first_64 = LayerFeatures(tiny).embed([LONG])[:, -32:] * math.sqrt(3)  # its last block: the 64-token mean
    assert np.abs(first_64 - whole).max() > 1e-3  # so a vector read from the cut pass would differ


def test_a_model_without_layers_is_read_view_by_view():
    fake = HashTeacher(8)
    assert not one_pass_supported(fake)
    views = encode_views(fake, TEXTS, layers=True)
    np.testing.assert_array_equal(views.sentence, fake.embed(TEXTS))
    np.testing.assert_array_equal(views.layers, LayerFeatures(fake).embed(TEXTS))
    with pytest.raises(ValueError, match="text_features"):
        encode_views(fake, TEXTS, tokens=True)


def count_passes(teacher, monkeypatch) -> list[int]:
    """The number of texts in each forward pass of the tiny model (one entry per batch)."""
    hf = teacher.model[0].auto_model
    seen: list[int] = []
    forward = hf.forward

    def counted(*args, **kwargs):
        seen.append(int((kwargs.get("input_ids") if "input_ids" in kwargs else args[0]).shape[0]))
        return forward(*args, **kwargs)

    monkeypatch.setattr(hf, "forward", counted)
    return seen


@pytest.fixture
def lab(tmp_path, monkeypatch, tiny):
    """A private lab home whose 'minilm' is the tiny model (the bundled name, so the steps' caches are the pages')."""
    monkeypatch.setenv("EMBEDDING_LAB_HOME", str(tmp_path))
    loads: list[str] = []

    def load(name):
        loads.append(name)
        tiny.id = teacher_id_for(name)
        return tiny

    yield tmp_path, loads, Lab.from_environment(load_model=load)
    tiny.id = "tiny-bert"


def test_the_words_step_fills_both_caches_from_one_pass(lab, tiny, monkeypatch):
    home, loads, context = lab
    words = tuple(WORDS) + ("walking", "dogs", "cats")
    root = home / "cache" / "teachers"
    reference_sentence, reference_layers = tiny.embed(list(words)), LayerFeatures(tiny).embed(list(words))
    passes = count_passes(tiny, monkeypatch)
    warm.words_step(context, "minilm", lambda: words)(lambda done, total: None)
    assert sum(passes) == len(words)  # each word through the model once, for both caches
    sentence_id = teacher_id_for("minilm")
    close(cached_vectors(root, sentence_id, words), reference_sentence)
    close(cached_vectors(root, layer_features_id(sentence_id), words), reference_layers)
    # the pages' own cache object reads them back without asking the model
    assert CachedTeacher(tiny, root).missing(words) == []

    loads.clear()
    passes.clear()
    warm.words_step(context, "minilm", lambda: words)(lambda done, total: None)
    assert loads == [] and passes == []  # complete: no model loaded, nothing read

    # a word missing from one cache only is read once more, and both caches end complete
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(root / f"{layer_features_id(sentence_id)}.sqlite")) as con, con:
        con.execute("DELETE FROM vectors WHERE text = 'cat'")
    warm.words_step(context, "minilm", lambda: words)(lambda done, total: None)
    assert passes == [1] and cached_count(root, layer_features_id(sentence_id), words) == len(words)


def test_the_sentences_step_fills_the_token_outputs_and_the_vectors_from_one_pass(lab, tiny, monkeypatch):
    from core.paths import cache_dir
    from core.sentences.features import cached_text_features, text_features

    home, loads, context = lab
    texts = tuple(TEXTS)
    passes = count_passes(tiny, monkeypatch)
    warm.texts_step(context, "minilm", lambda: texts, tokens=True)(lambda done, total: None)
    assert sum(passes) == len(texts) + 1  # one pass, and the long text read whole once more for its vector
    model_id = teacher_id_for("minilm")
    close(cached_vectors(home / "cache" / "teachers", model_id, texts), tiny.embed(list(texts)))
    kept = cached_text_features(lambda: pytest.fail("kept: no model"), model_id, texts, cache_dir())
    fresh = text_features(tiny, texts)
    assert (kept.mask == fresh.mask).all() and (kept.ids == fresh.ids).all()
    assert (kept.tokens - fresh.tokens * fresh.mask.unsqueeze(-1)).abs().max() < 1e-2  # float16 on disk, as before
    loads.clear()
    passes.clear()
    warm.texts_step(context, "minilm", lambda: texts, tokens=True)(lambda done, total: None)
    assert loads == [] and passes == []


@pytest.mark.slow
def test_real_minilm_one_pass_matches_each_cache():
    from core.data.sentences import default_sentences
    from core.sentences.features import text_features
    from core.teachers.teacher import load_teacher

    minilm = load_teacher("minilm", "cpu")
    assert one_pass_supported(minilm)
    sentences = list(default_sentences().texts)
    longest = sorted(sentences, key=len)[-10:]  # the ones most likely to pass 64 tokens
    texts = ["cat", "nonviolent", "antiaggressive", "running", "a"] + sentences[:60] + longest
    views = encode_views(minilm, texts, layers=True, tokens=True)
    close(views.sentence, minilm.embed(texts))
    close(views.layers, LayerFeatures(minilm).embed(texts))
    features = text_features(minilm, texts)
    worst = max(
        float(np.abs(views.tokens[i] - features.tokens[i][features.mask[i]].numpy()).max()) for i in range(len(texts))
    )
    assert worst <= 1e-4  # token outputs are unnormalized (values up to ~10): stored as float16 anyway
