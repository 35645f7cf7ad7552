"""What the story trains and shows (`StorySettings`: teacher, cheap model, p, seed, the words it follows) and its
word list (the Data page's default 10,002 words, so the story's runs and a visitor's Try-it runs match)."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass

from core.data.corpus import default_word_list

TEACHER_ENV, CHEAP_ENV = "EMBEDDING_LAB_STORY_TEACHER", "EMBEDDING_LAB_STORY_CHEAP"  # tests: the instant fake teacher
MODEL_NAMES = {"mpnet": "MPNet (all-mpnet-base-v2)", "minilm": "MiniLM (all-MiniLM-L6-v2)"}
SCORES_VERSION = 3  # 2: a lesson word's closest words are searched among the lessons; 3: offensive words left out
NEW_WORDS, TRAINING_WORDS = "new words (never shown)", "training words (answers shown)"


@dataclass(frozen=True)
class StorySettings:
    """What the story trains and shows. The defaults are the honest pairing: an expensive teacher
    (MPNet, 768 numbers per word) imitated by an adapter that reads a ~6x cheaper model (MiniLM)."""

    teacher: str = "mpnet"
    cheap: str = "minilm"  # what the adapter reads; must be cheaper than the teacher for the story to be honest
    # The side-by-side pair's training fraction: 2,000 of 10,002 words. Measured with MPNet / MiniLM, seed 0:
    # at p = 0.1 the adapter shares 5 and 4 of 8 teacher neighbours of king / queen (3.8 of 8 for the average
    # new word), at p = 0.2 6 and 6 (4.0 of 8); step 4 shows every p.
    p: float = 0.2
    seed: int = 0  # one seed: the same training words for every student at one p
    # Model B's training: more than the paper's default 20 epochs at Adam's 0.001, which leave even the
    # training words at cosine ~0.48 (it has not learnt its lessons yet); 40 epochs at 0.01 reach ~0.8 on
    # them, so its failure on new words is not for lack of training. (The adapter is solved in one step.)
    epochs: int = 40
    lr: float = 0.01
    ps: tuple[float, ...] = (0.01, 0.03, 0.1, 0.2, 0.3)  # step 4: how few answers are enough
    poison: float = 0.1  # step 5: the paper's attack, 10 % of the answers replaced by random vectors
    words: tuple[str, ...] = ("king", "queen")  # whose neighbours the story shows
    more_words: tuple[str, ...] = ("happy", "river")  # step 1 only: a couple more, to show the teacher is not a trick
    k: int = 8  # neighbours per word (the Projection page's eight)
    vocabulary: str = ""  # the word list's label; '' = the default 10,002 words (`story_vocabulary`)
    # Closest-word lists leave out offensive words (`core.words.offensive`), as Projection's switch does by default:
    # the story is shown on a projector, and *man*'s closest words include profanity under both bundled teachers.
    polite: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.p <= 1 or any(not 0 < p <= 1 for p in self.ps):
            raise ValueError("The story's p values must be between 0 and 1.")
        if not 0 <= self.poison < 1:
            raise ValueError("The story's poison rate must be at least 0 and below 1.")
        if self.k < 1:
            raise ValueError("The story needs at least one neighbour per word.")
        if not self.vocabulary:
            object.__setattr__(self, "vocabulary", story_vocabulary_label())

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StorySettings:
        """The defaults, with the teacher / cheap model from $EMBEDDING_LAB_STORY_TEACHER / _CHEAP (tests use 'hash-32')."""
        env = os.environ if env is None else env
        teacher = env.get(TEACHER_ENV, "").strip() or cls.teacher
        cheap = env.get(CHEAP_ENV, "").strip() or ("hash-16" if teacher.startswith("hash") else cls.cheap)
        return cls(teacher=teacher, cheap=cheap)

    @property
    def teacher_label(self) -> str:
        return MODEL_NAMES.get(self.teacher, self.teacher)

    @property
    def cheap_label(self) -> str:
        return MODEL_NAMES.get(self.cheap, self.cheap)


@functools.lru_cache(maxsize=1)
def story_vocabulary():
    """The Data page's default word list (pages/_shared.py `default_words`): 10,000 common words plus the
    paper's pair. Same words, same label, so the story's runs and a visitor's Try-it runs match."""
    return default_word_list()


def story_vocabulary_label() -> str:
    return story_vocabulary().label
