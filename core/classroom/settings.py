"""Who teaches the class: the [classroom] table of the lab's settings file (core.runs.hosting.config_path, the same
file as [host]), or $EMBEDDING_LAB_TEACHERS (comma-separated, wins over the file).

    [classroom]
    teachers = ["ada@school.edu", "248289761001", "t-3f1c0a9e5b2d4c67"]

A teacher is named by the e-mail their identity provider gives (any case), by the provider's subject (`sub`, exact),
or, without a sign-in, by their lab id (the `t-…` id shown under their personal link). Light on purpose (no
numerical library): app.py asks it before it draws the navigation.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from core.runs.hosting import config_path

ENV = "EMBEDDING_LAB_TEACHERS"
MAX_TEACHERS = 200


@dataclass(frozen=True)
class ClassroomSettings:
    teachers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.teachers, tuple) or not all(isinstance(t, str) for t in self.teachers):
            raise ValueError("Classroom setting teachers must be a list of e-mails, subjects or lab ids.")
        cleaned = tuple(t.strip() for t in self.teachers if t.strip())
        if len(cleaned) > MAX_TEACHERS:
            raise ValueError(f"Classroom setting teachers names {len(cleaned)} people; at most {MAX_TEACHERS}.")
        if any(len(t) > 320 or not t.isprintable() for t in cleaned):
            raise ValueError("Classroom setting teachers holds an entry that is not a plain e-mail, subject or id.")
        object.__setattr__(self, "teachers", cleaned)

    def is_teacher(self, *, email: str | None = None, subject: str | None = None, owner: str | None = None) -> bool:
        """Is this person named as a teacher? e-mail in any case, subject and lab id exactly.

        >>> ClassroomSettings(("Ada@School.edu",)).is_teacher(email="ada@school.edu")
        True
        >>> ClassroomSettings(("248289761001",)).is_teacher(subject="248289761001", email="x@y.z")
        True
        >>> ClassroomSettings(("ada@school.edu",)).is_teacher(subject="ada@school.edu ")
        False
        """
        emails = {t.lower() for t in self.teachers if "@" in t}
        if email and email.strip().lower() in emails:
            return True
        return bool((subject and subject in self.teachers) or (owner and owner in self.teachers))


def load_classroom_settings(env=None, path: Path | None = None) -> ClassroomSettings:
    """The file's [classroom] table, then $EMBEDDING_LAB_TEACHERS on top; a bad value is a ValueError sentence."""
    env = os.environ if env is None else env
    path = Path(path) if path is not None else config_path(env)
    teachers: tuple[str, ...] = ()
    if path.exists():
        try:
            table = tomllib.loads(path.read_text(encoding="utf-8")).get("classroom", {})
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as err:
            raise ValueError(f"The settings file {path} cannot be read ({str(err).splitlines()[0][:120]}).") from None
        if not isinstance(table, dict):
            raise ValueError(f"The settings file {path} must hold [classroom] as a table.")
        unknown = sorted(set(table) - {"teachers"})
        if unknown:
            raise ValueError(f"The settings file {path} has unknown classroom setting(s): {', '.join(unknown)}.")
        raw = table.get("teachers", [])
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
            raise ValueError(f"Classroom setting teachers ({path}) must be a list of texts, got {raw!r:.80}.")
        teachers = tuple(raw)
    if env.get(ENV) is not None:
        teachers = tuple(t for t in env[ENV].split(","))
    return ClassroomSettings(teachers)
