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
    """Model A: embedding -> ReLU -> L2 norm. Model B: two ReLU/Linear blocks in between."""

    A = "A"
    B = "B"


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

    def __post_init__(self) -> None:
        # Accept plain strings from JSON, argparse and widgets; store the enums.
        try:
            raw = self.model.value if isinstance(self.model, StudentKind) else str(self.model).upper()
            object.__setattr__(self, "model", StudentKind(raw))
        except ValueError:
            raise ValueError(f"model must be 'A' or 'B', got {self.model!r}.") from None
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

    def to_dict(self) -> dict:
        out = asdict(self)
        out["model"] = self.model.value
        out["lemmatize"] = self.lemmatize.value
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"Unknown setting(s) in run config: {', '.join(sorted(unknown))}.")
        return cls(**data)
