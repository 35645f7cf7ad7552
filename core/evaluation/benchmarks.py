"""The benchmark files honest evaluation scores on: the Google analogy questions, SimLex-999 and WordSim-353, read from
the installed gensim package's test data (or a file the user gives), parsed with a sentence for any problem."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

BENCHMARK_FILES = {"analogies": "questions-words.txt", "simlex": "simlex999.txt", "wordsim": "wordsim353.tsv"}


class BenchmarkUnavailable(RuntimeError):
    """A benchmark file cannot be found or read; str() is a sentence for the user."""


@dataclass(frozen=True)
class Analogy:
    section: str
    a: str
    b: str
    c: str
    d: str  # a : b :: c : d  (d is the answer)


@dataclass(frozen=True)
class WordPair:
    a: str
    b: str
    score: float


def benchmark_path(name: str) -> Path:
    """The file of a bundled benchmark ('analogies', 'simlex', 'wordsim') inside gensim."""
    if name not in BENCHMARK_FILES:
        raise BenchmarkUnavailable(f"No benchmark called '{name}'; choose {', '.join(BENCHMARK_FILES)}.")
    try:
        from gensim.test.utils import datapath
    except ImportError:
        raise BenchmarkUnavailable(
            "The benchmark files come with gensim: run `make run` (or `pip install gensim`)."
        ) from None
    path = Path(datapath(BENCHMARK_FILES[name]))
    if not path.exists():
        raise BenchmarkUnavailable(f"{BENCHMARK_FILES[name]} is missing from the installed gensim package.")
    return path


def _read(path: Path | str, what: str) -> str:
    try:
        return Path(path).read_bytes().decode("utf-8")
    except OSError as err:
        raise BenchmarkUnavailable(
            f"Could not read the {what} file {Path(path).name}: {err.strerror or err}."
        ) from None
    except UnicodeDecodeError:
        raise BenchmarkUnavailable(f"The {what} file {Path(path).name} is not UTF-8 text.") from None


def parse_analogies(text: str) -> list[Analogy]:
    """Questions from the word2vec format: ': section' lines, then 'a b c d' lines (lowercased)."""
    questions, section = [], None
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith(":"):
            section = line.lstrip(": ").strip() or "unnamed"
            continue
        words = line.lower().split()
        if len(words) != 4:
            continue  # gensim skips malformed lines too
        if section is None:
            raise ValueError(f"Line {number} comes before any ': section' header; is this an analogy file?")
        questions.append(Analogy(section, *words))
    if not questions:
        raise ValueError("No analogy questions found: expected lines of four words after ': section' headers.")
    return questions


def parse_pairs(text: str) -> list[WordPair]:
    """Word pairs with a human score: 'word1<TAB>word2<TAB>score' lines; '#' lines are comments."""
    pairs = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) != 3:
            continue
        try:
            score = float(parts[2])
        except ValueError:
            continue
        if math.isfinite(score):
            pairs.append(WordPair(parts[0].strip().lower(), parts[1].strip().lower(), score))
    if not pairs:
        raise ValueError("No word pairs found: expected lines 'word1<TAB>word2<TAB>score'.")
    return pairs


def load_analogies(path: Path | str | None = None) -> list[Analogy]:
    path = path or benchmark_path("analogies")
    try:
        return parse_analogies(_read(path, "analogy"))
    except ValueError as err:
        raise BenchmarkUnavailable(f"{Path(path).name}: {err}") from None


def load_pairs(name_or_path: str | Path) -> list[WordPair]:
    path = benchmark_path(name_or_path) if str(name_or_path) in BENCHMARK_FILES else Path(name_or_path)
    try:
        return parse_pairs(_read(path, "word-pair"))
    except ValueError as err:
        raise BenchmarkUnavailable(f"{Path(path).name}: {err}") from None


@dataclass(frozen=True)
class Benchmarks:
    analogies: tuple[Analogy, ...]
    simlex: tuple[WordPair, ...]
    wordsim: tuple[WordPair, ...]

    @classmethod
    def bundled(cls) -> Benchmarks:
        return cls(tuple(load_analogies()), tuple(load_pairs("simlex")), tuple(load_pairs("wordsim")))
