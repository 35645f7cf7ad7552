import pytest

from core.data.lemmatize import LemmaResult, lemmatize_words, load_lemmatizer, no_lemmatization


def test_identity_keeps_every_word():
    result = no_lemmatization(["cat", "dog", "cat"])
    assert result.lemmas == ("cat", "dog") and result.word_to_lemma == (0, 1, 0)
    assert result.merged_count == 1


def test_merges_report():
    result = LemmaResult(("fighting", "fight", "was", "be", "cat"), ("fight", "be", "cat"), (0, 0, 1, 1, 2))
    assert result.merges() == {"fight": ["fighting"], "be": ["was"]}
    assert result.examples() == ["fighting→fight", "was→be"]
    assert "5 words became 3 unique lemmas (2 merged" in result.summary()


@pytest.mark.slow
def test_spacy_pipeline_merges_the_papers_examples(tiny_words):
    nlp = load_lemmatizer("spacy")
    result = lemmatize_words(tiny_words, nlp)
    merges = result.merges()
    assert "fighting" in merges["fight"] and "was" in merges["be"] and "children" in merges["child"]
    assert len(result.lemmas) < len(tiny_words)
    assert all(result.lemmas[i] for i in result.word_to_lemma)


@pytest.mark.slow
def test_lookup_mode_is_fast_and_keeps_words_over_non_words():
    nlp = load_lemmatizer("lookup")
    result = lemmatize_words(["octopi", "fighting", "first", "was"], nlp)
    # The lookup table maps first -> "1"; a non-word lemma is refused and the word kept.
    assert result.lemmas == ("octopus", "fight", "first", "be")
