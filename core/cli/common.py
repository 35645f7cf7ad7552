"""What the commands share: the word list a command reads (`--vocab` or the default words), the teacher it asks (cached
on disk), and `say` (progress on stderr, so stdout stays JSON with `--json`)."""

from __future__ import annotations

import sys

from core.data.corpus import default_vocabulary, parse_vocabulary
from core.paths import cache_dir
from core.teachers.teacher import (
    CachedTeacher,
    load_teacher,
)


def vocabulary(args):
    if args.vocab:
        from pathlib import Path

        path = Path(args.vocab)
        if not path.is_file():
            raise ValueError(f"There is no file '{args.vocab}'.")
        return parse_vocabulary(path.read_bytes(), path.name, args.column)
    return default_vocabulary(args.size)


def cached_teacher(args):
    return CachedTeacher(load_teacher(args.teacher, args.device), cache_dir() / "teachers")


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
