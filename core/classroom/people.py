"""The people of a class: one small JSON file each under <lab home>/classroom/people/<lab id>.json.

A person's lab id (the `owner` of their runs) is, signed in, a hash of their identity provider's issuer and subject
(`subject_owner`: the provider's stable id for them, never their e-mail, which can change); without a sign-in, a
hash of the token in their personal link (core.runs.hosting.owner_id). The file keeps what the class board shows:
a nickname (what classmates see beside shared runs), the provider's name and e-mail (signed in), when the person
was first and last here, and, without a sign-in, the link token, so that a teacher can give a student who lost
their link the same link again (the token never leaves this file but for that). One file per person: two people
never write the same file, and each write is atomic (a reader sees the old file or the new one).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import time
from pathlib import Path

from core.paths import lab_home, writing

MAX_NICKNAME = 40
MAX_FILE = 16_384  # a person's file is a few hundred bytes
OWNER = re.compile(r"^[a-z]-[0-9a-f]{16}\Z")
FIELDS = ("owner", "nickname", "name", "email", "subject", "token", "signed_in", "first_seen", "last_seen")


def people_dir(home: Path | None = None) -> Path:
    return Path(home or lab_home()) / "classroom" / "people"


def subject_owner(subject: str, issuer: str = "") -> str:
    """The lab id of a signed-in person: their provider's subject (with its issuer, so two providers' subjects never
    meet), hashed: the runs' `owner` (written in gallery runs everyone may read) never shows the subject.

    >>> subject_owner("248289761001", "https://accounts.google.com")
    's-4a55b20f96630628'
    """
    if not isinstance(subject, str) or not subject.strip():
        raise ValueError("A signed-in person needs the identity provider's subject (sub); this sign-in has none.")
    return "s-" + hashlib.sha256(f"{issuer.strip()}\n{subject.strip()}".encode()).hexdigest()[:16]


def clean_nickname(text: object) -> str:
    """A nickname as stored: printable, spaces collapsed, at most 40 characters ('' clears it).

    >>> clean_nickname("  Ada\\n  L. ")
    'Ada L.'
    """
    if not isinstance(text, str):
        raise ValueError("A nickname must be text.")
    clean = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    if len(clean) > MAX_NICKNAME:
        raise ValueError(f"A nickname can be at most {MAX_NICKNAME} characters; this one has {len(clean)}.")
    return clean


def _path(folder: Path, owner: str) -> Path:
    if not isinstance(owner, str) or not OWNER.match(owner):
        raise ValueError(f"{owner!r:.40} is not a lab id.")
    return Path(folder) / f"{owner}.json"


def read_person(folder: Path, owner: str) -> dict | None:
    """The person's record, or None when there is none (or it cannot be read: it is written again on their visit)."""
    path = _path(folder, owner)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE + 1)
        record = json.loads(raw) if len(raw) <= MAX_FILE else None
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("owner") == owner else None


def _write(folder: Path, owner: str, record: dict) -> None:
    path = _path(folder, owner)
    with writing(folder):
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{owner}.{secrets.token_hex(3)}")
        try:
            tmp.write_text(json.dumps(record))
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)


def record_visit(
    folder: Path,
    owner: str,
    now: float | None = None,
    *,
    name: str = "",
    email: str = "",
    subject: str = "",
    token: str = "",
) -> dict:
    """This person is here now: their record, created on a first visit (their provider's name as the nickname until
    they choose one), else updated (last seen; the provider's name and e-mail as it gives them now)."""
    now = time.time() if now is None else float(now)
    record = read_person(folder, owner) or {"owner": owner, "first_seen": now, "nickname": ""}
    if not record.get("nickname") and name:
        with contextlib.suppress(ValueError):
            record["nickname"] = clean_nickname(name[:MAX_NICKNAME])
    record.update(
        {
            "name": name[:200] or record.get("name", ""),
            "email": email[:320] or record.get("email", ""),
            "subject": subject[:320] or record.get("subject", ""),
            "token": token[:64] or record.get("token", ""),
            "signed_in": bool(subject) or bool(record.get("signed_in")),
            "last_seen": now,
        }
    )
    _write(folder, owner, record)
    return record


def set_nickname(folder: Path, owner: str, nickname: object, now: float | None = None) -> str:
    """Give this person the nickname classmates see beside their shared runs; returns it as stored."""
    clean = clean_nickname(nickname)
    now = time.time() if now is None else float(now)
    record = read_person(folder, owner) or {"owner": owner, "first_seen": now, "last_seen": now}
    record["nickname"] = clean
    _write(folder, owner, record)
    return clean


def read_people(folder: Path) -> list[dict]:
    """Every person's record (each with every field of FIELDS), the most recently seen first; unreadable files are
    left out (their owner's next visit writes them again)."""
    folder = Path(folder)
    try:
        names = sorted(p.stem for p in folder.glob("*.json"))
    except OSError:
        return []
    people = []
    for owner in names:
        if not OWNER.match(owner):
            continue
        record = read_person(folder, owner)
        if record is None:
            continue
        person = {key: record.get(key) for key in FIELDS}
        for key in ("nickname", "name", "email", "subject", "token"):
            person[key] = str(person[key] or "")
        person["signed_in"] = bool(person["signed_in"])
        for key in ("first_seen", "last_seen"):
            value = person[key]
            person[key] = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0
        people.append(person)
    return sorted(people, key=lambda p: -p["last_seen"])


def display_name(person: dict | None) -> str:
    """What others see for a person: their nickname, else the provider's name, else '' (unknown).

    >>> display_name({"nickname": "", "name": "Ada Lovelace"})
    'Ada Lovelace'
    """
    if not person:
        return ""
    return str(person.get("nickname") or person.get("name") or "")


def nicknames(folder: Path) -> dict[str, str]:
    """lab id -> what classmates see for that person (people with no name left out)."""
    return {p["owner"]: name for p in read_people(folder) if (name := display_name(p))}
