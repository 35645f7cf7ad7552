"""Which class each student kind is: one line per student.

Adding a student is one file (its class, a `core.words.base.Student` with its traits) and one line here
(`"name": Class`), or `register("name", Class)` from elsewhere (a test, a plug-in). `StudentConfig` names a
kind by this registry, so a saved student of any registered kind reloads. The built-in kinds are also
`core.config.StudentKind` members (what the run settings, the CLI and the pages offer); a kind registered
here without one builds, trains (through the reference loop, `core.words.train.train_student`), saves and
reloads like any other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from core.config import StudentKind
from core.words.base import Student
from core.words.generalizing import KernelAdapter, MLPAdapter, RidgeAdapter, SubwordStudent
from core.words.tables import ModelA, ModelB

STUDENTS: dict[str, type[Student]] = {
    "A": ModelA,
    "B": ModelB,
    "ridge": RidgeAdapter,
    "mlp": MLPAdapter,
    "kernel": KernelAdapter,
    "subword": SubwordStudent,
}


def register(name: str, cls: type[Student]) -> None:
    """Make `name` a student kind built as `cls` (a name that is a built-in kind cannot be taken)."""
    if name in STUDENTS and STUDENTS[name] is not cls:
        raise ValueError(f"The student kind {name!r} is taken by {STUDENTS[name].__name__}.")
    STUDENTS[name] = cls


def kind_name(kind) -> str:
    """The registry's name of a kind: a StudentKind's value, or a registered name as given."""
    return kind.value if isinstance(kind, StudentKind) else str(kind)


def student_class(kind) -> type[Student]:
    try:
        return STUDENTS[kind_name(kind)]
    except KeyError:
        raise ValueError(f"Unknown student kind {kind!r}: one of {', '.join(STUDENTS)}.") from None


@dataclass(frozen=True)
class StudentConfig:
    kind: StudentKind | str  # a built-in StudentKind, or the name of a kind registered here
    vocab_size: int  # one row per item of the (possibly lemmatized) dataset
    dim: int  # the teacher's dimension
    in_dim: int = 0  # adapters: the cheap encoder's dimension
    hidden: int = 0  # MLP adapter / subword: the hidden width (0: the default)
    buckets: int = 0  # subword: hash buckets (0: the default)
    cheap: str = ""  # adapters: the cheap encoder's id (its cache is where features come from)
    centres: int = 0  # kernel adapter: how many training words anchor the kernel map

    def __post_init__(self) -> None:
        try:
            kind = StudentKind.parse(self.kind)
        except ValueError:
            if not isinstance(self.kind, str) or self.kind not in STUDENTS:
                raise
            kind = self.kind  # a kind registered beyond the built-in ones
        object.__setattr__(self, "kind", kind)
        for name, high in (
            ("vocab_size", 10_000_000),
            ("dim", 16_384),
            ("in_dim", 16_384),
            ("hidden", 65_536),
            ("buckets", 10_000_000),
            ("centres", 1_000_000),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
                raise ValueError(f"The student's {name} must be a whole number between 0 and {high:,}, got {value!r}.")
        if self.vocab_size < 1 or self.dim < 2:
            raise ValueError(
                f"A student needs at least one item and two dimensions, got {self.vocab_size} × {self.dim}."
            )
        if student_class(self.kind).reads == "features" and self.in_dim < 1:
            raise ValueError("An adapter needs the cheap encoder's dimension (in_dim).")

    def to_dict(self) -> dict:
        return {**asdict(self), "kind": kind_name(self.kind)}
