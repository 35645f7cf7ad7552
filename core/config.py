"""The experiment's settings: frozen, typed, validated where they are made.

A page or the CLI builds one `TrainConfig` and hands it to the engine; being frozen and made
of plain values, Streamlit can hash it for caches and the store can write it as JSON.

>>> TrainConfig(model="B", p=0.095).model
<StudentKind.B: 'B'>
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from enum import Enum

# The training fractions of the paper (Sahoo & Alberdi 2023, "Methods and Experiments").
PAPER_PS = (0.005, 0.009, 0.016, 0.029, 0.053, 0.095, 0.171, 0.308, 0.555, 1.0)

MAX_EPOCHS = 1000
MAX_BATCH = 65536


class StudentKind(str, Enum):
    """Who imitates the teacher.

    Model A / Model B are the paper's lookup tables (one free vector per item: a word outside the
    training fraction keeps its random start). The others compute a word's vector from something
    every word has, so they can embed words they never saw:
    - ridge / mlp: an adapter from a cheap local encoder's embedding of the word to the teacher;
    - kernel: kernel ridge regression from the cheap encoder's last six layers (the best here);
    - subword: hashed character n-grams, no other model needed.
    """

    A = "A"
    B = "B"
    RIDGE = "ridge"
    MLP = "mlp"
    KERNEL = "kernel"
    SUBWORD = "subword"

    @classmethod
    def parse(cls, value) -> StudentKind:
        """'B', 'b', 'Ridge', a StudentKind: the kind; anything else a ValueError with the choices."""
        if isinstance(value, cls):
            return value
        text = str(value).strip()
        for kind in cls:
            if kind.value.lower() == text.lower():
                return kind
        raise ValueError(f"model must be one of {', '.join(k.value for k in cls)}, got {value!r}.")

    @property
    def label(self) -> str:
        return STUDENT_LABELS[self]

    @property
    def generalizes(self) -> bool:
        """Whether a word outside the training set gets a learnt vector (not its random start)."""
        return self not in (StudentKind.A, StudentKind.B)

    @property
    def needs_cheap(self) -> bool:
        """Adapters read a cheap encoder's embedding of each word."""
        return self in (StudentKind.RIDGE, StudentKind.MLP, StudentKind.KERNEL)

    @property
    def features(self) -> str:
        """What an adapter reads from the cheap encoder: its sentence embedding, or its layers."""
        return "layers" if self is StudentKind.KERNEL else "sentence"

    @property
    def closed_form(self) -> bool:
        """Solved in one step (no epochs)."""
        return self in (StudentKind.RIDGE, StudentKind.KERNEL)


STUDENT_LABELS = {
    StudentKind.A: "Model A",
    StudentKind.B: "Model B",
    StudentKind.RIDGE: "Adapter (ridge)",
    StudentKind.MLP: "Adapter (MLP)",
    StudentKind.KERNEL: "Adapter (kernel, layers)",
    StudentKind.SUBWORD: "Subword",
}


# The cheap models an adapter can read, cheapest first: static word tables distilled from MiniLM or MPNet
# (core.teachers.static, microseconds a word), MiniLM (~1 ms a word on a CPU), MPNet (~4 ms).
CHEAP_MODELS = ("static", "static-mpnet", "minilm", "mpnet")
STATIC_FROM = {"static": "minilm", "static-mpnet": "mpnet"}  # which encoder each table is distilled from


def _bundled(teacher: str) -> str | None:
    name = teacher.strip().lower()
    if name in ("minilm", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"):
        return "minilm"
    if name in ("mpnet", "all-mpnet-base-v2", "sentence-transformers/all-mpnet-base-v2"):
        return "mpnet"
    return None


def cheap_choices(teacher: str) -> list[str]:
    """The cheap models a student of this teacher may read, cheapest first: never the teacher itself, nor a table
    distilled from it (that would copy the teacher's weights, not imitate its answers)."""
    if teacher.strip().startswith("hash"):
        return ["hash-16"]
    bundled = _bundled(teacher)
    return [m for m in CHEAP_MODELS if m != bundled and STATIC_FROM.get(m) != bundled]


def default_cheap(teacher: str) -> str:
    """Which cheap model an adapter reads when the user names none, never dearer than the teacher: for MPNet (and
    any other teacher) MiniLM, about 6x cheaper and the best reading; for MiniLM the table distilled from MPNet."""
    if teacher.strip().startswith("hash"):
        return "hash-16"
    return "static-mpnet" if _bundled(teacher) == "minilm" else "minilm"


class Adversary(str, Enum):
    RANDOM = "random"
    SWAP = "swap"
    NEGATE = "negate"
    NOISE = "noise"
    CONCENTRATED = "concentrated"


class PoisonScope(str, Enum):
    ALL = "all"  # the whole dataset, before the split (the paper's protocol)
    TRAIN = "train"  # only the answers the student trains on


# Which words the teacher is asked about (core.data.selection): the paper's random draw, or a choice that
# reads only what a student may read before paying (the cheap model's features, word frequency).
SELECTIONS = ("random", "typical", "kcenter", "frequency")


def check_selection(selection) -> str:
    name = str(selection).strip().lower()
    if name not in SELECTIONS:
        raise ValueError(f"The query selection must be one of {', '.join(SELECTIONS)}, got {selection!r}.")
    return name


# The ceiling of a kind of student: the same student given every answer but a held-out 10 % (how close any
# student of that kind can get with these words).
CEILING_P = 0.9

DEFENCES = ("none", "trimmed", "small-loss", "robust")  # what each does: core.poisoning.defence
MAX_TRIM = 0.5  # the most a defence may leave out


def check_trim(trim: float) -> float:
    if (
        isinstance(trim, bool)
        or not isinstance(trim, (int, float))
        or not math.isfinite(trim)
        or not 0.0 <= trim <= MAX_TRIM
    ):
        raise ValueError(
            f"The share to leave out must be between 0 (decide from the losses) and {MAX_TRIM:g}, got {trim!r}."
        )
    return float(trim)


class LemmaMode(str, Enum):
    """How words are reduced to lemmas before anything else (the paper's preprocessing)."""

    NONE = "none"  # keep every word as it is
    SPACY = "spacy"  # spaCy's POS-aware pipeline (en_core_web_sm, or its offline re-upload)
    LOOKUP = "lookup"  # spaCy's lookup table: ten times faster, a few odd lemmas (does -> doe)


def _check_fraction(name: str, value: float, *, low_open: bool, high: float = 1.0) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number, got {value!r}.")
    if low_open and not (0.0 < value <= high):
        raise ValueError(f"{name} must be greater than 0 and at most {high:g}, got {value:g}.")
    if not low_open and not (0.0 <= value <= high):
        raise ValueError(f"{name} must be between 0 and {high:g}, got {value:g}.")


def _check_int(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number, got {value!r}.")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}.")


@dataclass(frozen=True)
class TrainConfig:
    """One training run: which student, on how much of the teacher's answers, for how long."""

    teacher: str = "minilm"
    model: StudentKind = StudentKind.B
    p: float = 0.095  # fraction of the vocabulary whose teacher embedding the student sees
    epochs: int = 20
    lemmatize: LemmaMode = LemmaMode.NONE
    poison: float = 0.0  # fraction of the WHOLE vocabulary given a random unit target (paper: 0.1)
    seed: int = 0
    batch_size: int = 256  # the paper does not say; 256 keeps 10k words at ~40 steps an epoch
    lr: float = 1e-3  # Adam's default, as the paper names no other
    vocabulary: str = "default-10000"  # a label for the word list: its name and size, or a hash
    cheap: str = ""  # adapters only: the cheap encoder they read (default: see default_cheap)
    adversary: str = "random"  # what a poisoned answer is (core.poisoning.poison.Adversary); the paper's: random
    poison_scope: str = (
        "all"  # 'all': the whole vocabulary before the split (the paper's); 'train': training answers only
    )
    defence: str = "none"  # 'none' (the paper's), 'trimmed', 'small-loss' or 'robust' (core.poisoning.defence)
    trim: float = 0.0  # defences: the share of answers to leave out; 0 = decide from the losses (outliers)
    selection: str = "random"  # which words to ask (core.data.selection); 'random' is the paper's draw

    def __post_init__(self) -> None:
        # Accept plain strings from JSON, argparse and widgets; store the enums.
        object.__setattr__(self, "model", StudentKind.parse(self.model))
        try:
            object.__setattr__(self, "lemmatize", LemmaMode(self.lemmatize))
        except ValueError:
            options = ", ".join(m.value for m in LemmaMode)
            raise ValueError(f"lemmatize must be one of {options}, got {self.lemmatize!r}.") from None
        if not isinstance(self.teacher, str) or not self.teacher.strip():
            raise ValueError("teacher must name a model, e.g. 'minilm'.")
        _check_fraction("p (the training fraction)", self.p, low_open=True)
        _check_fraction("poison (the poisoned fraction)", self.poison, low_open=False)
        if self.poison >= 1.0:
            raise ValueError("poison must be below 1: with every target poisoned there is nothing to learn.")
        _check_int("epochs", self.epochs, 1, MAX_EPOCHS)
        _check_int("seed", self.seed, 0, 2**31 - 1)
        _check_int("batch size", self.batch_size, 1, MAX_BATCH)
        _check_fraction("learning rate", self.lr, low_open=True, high=10.0)
        if not isinstance(self.cheap, str):
            raise ValueError("cheap must name a model, e.g. 'minilm'.")
        if self.model.needs_cheap:
            object.__setattr__(self, "cheap", self.cheap.strip() or default_cheap(self.teacher))
        else:
            object.__setattr__(self, "cheap", "")  # only adapters read a cheap encoder
        if self.model.closed_form:
            object.__setattr__(self, "epochs", 1)  # solved in one step: there are no epochs to run
        for name, enum in (("adversary", Adversary), ("poison_scope", PoisonScope)):
            try:
                object.__setattr__(self, name, enum(str(getattr(self, name)).strip().lower()).value)
            except ValueError:
                options = ", ".join(m.value for m in enum)
                raise ValueError(
                    f"{name.replace('_', ' ')} must be one of {options}, got {getattr(self, name)!r}."
                ) from None
        defence = str(self.defence).strip().lower()
        if defence not in DEFENCES:
            raise ValueError(f"defence must be one of {', '.join(DEFENCES)}, got {self.defence!r}.")
        object.__setattr__(self, "defence", defence)
        object.__setattr__(self, "selection", check_selection(self.selection))
        object.__setattr__(self, "trim", check_trim(self.trim))
        if self.defence in ("none", "robust"):
            object.__setattr__(self, "trim", 0.0)  # only trimmed and small-loss leave answers out
        if self.poison == 0:
            # Without poison the adversary and its scope change nothing: one clean run, whatever they say.
            object.__setattr__(self, "adversary", "random")
            object.__setattr__(self, "poison_scope", "all")

    def to_dict(self) -> dict:
        out = asdict(self)
        out["model"] = self.model.value
        out["lemmatize"] = self.lemmatize.value
        return out

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"Unknown setting(s) in run config: {', '.join(sorted(unknown))}.")
        return cls(**data)
