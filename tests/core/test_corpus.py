import pytest

from core.data.corpus import VocabularyError, csv_columns, default_vocabulary, is_plain_word, parse_vocabulary


def test_default_vocabulary_is_10k_plain_words_in_frequency_order():
    vocab = default_vocabulary()
    assert len(vocab.words) == 10_000 and len(set(vocab.words)) == 10_000
    assert vocab.words[:3] == ["the", "to", "and"]
    assert all(is_plain_word(w) for w in vocab.words)
    assert "a" in vocab.words and "i" in vocab.words and "b" not in vocab.words
    assert vocab.label.startswith("default-10000-")


@pytest.mark.parametrize(
    "word, ok", [("cat", True), ("a", True), ("x", False), ("don't", False), ("café", False), ("2nd", False)]
)
def test_plain_word_filter(word, ok):
    assert is_plain_word(word) is ok


def test_txt_upload_drops_with_reasons():
    data = "cat\n\n  dog  \ncat\n" + "x" * 101 + "\nbad\x07word\nbird\r\n"
    vocab = parse_vocabulary(data.encode(), "mine.txt")
    assert vocab.words == ["cat", "dog", "bird"]
    assert vocab.dropped["duplicate"].count == 1
    assert vocab.dropped["empty line"].count == 1
    assert vocab.dropped["longer than 100 characters"].count == 1
    assert vocab.dropped["control or invisible characters"].count == 1
    assert "dropped 4" in vocab.summary()


def test_bom_and_size_cap():
    vocab = parse_vocabulary("\ufeffone\ntwo\nthree\n".encode(), "w.txt", max_items=2)
    assert vocab.words == ["one", "two"] and vocab.dropped["over the size limit"].count == 1


def test_csv_with_a_chosen_column():
    data = b"id,word,freq\n1,apple,3\n2,pear,2\n3,apple,1\n"
    assert csv_columns(data) == ["id", "word", "freq"]
    vocab = parse_vocabulary(data, "fruit.csv", column="word")
    assert vocab.words == ["apple", "pear"]
    with pytest.raises(VocabularyError, match="choose which one"):
        parse_vocabulary(data, "fruit.csv")
    with pytest.raises(VocabularyError, match="no column 'lemma'"):
        parse_vocabulary(data, "fruit.csv", column="lemma")


@pytest.mark.parametrize(
    "data, name, fragment",
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "w.txt", "binary"),  # (FF FE is a UTF-16 BOM now: text)
        ("caf\xe9\n".encode("latin-1"), "w.txt", "not UTF-8"),
        (b"a\nb\n", "w.pdf", "not a .txt or .csv"),
        (b"\n\n\n", "w.txt", "0 usable"),
        (b"x" * 2000, "w.txt", "the limit is"),
    ],
)
def test_unusable_files_get_one_sentence(data, name, fragment):
    with pytest.raises(VocabularyError, match=fragment):
        parse_vocabulary(data, name, max_bytes=1000)


def test_the_default_word_list_is_one_list_for_the_pages_the_story_and_the_warm_up():
    from core import story, warm
    from core.data.corpus import PAPER_PAIR, default_word_list

    words = default_word_list()
    assert words.words[-2:] == list(PAPER_PAIR) and len(words.words) == 10_002 and words.source == "default"
    assert story.story_vocabulary().label == words.label
    assert warm.default_items() == tuple(words.words)  # not lemmatized: each item is its word
