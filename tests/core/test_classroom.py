"""core.classroom: who teaches (lab.toml's [classroom]), who is who (subjects, link tokens, nicknames, visits), and the
class board's figures (each person's runs in the class that was on, the queue, the gallery's moderation, the CSV
export, archiving a class without deleting anything)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import polars as pl
import pytest

from core.classroom import board
from core.classroom.people import (
    nicknames,
    people_dir,
    read_people,
    record_visit,
    set_nickname,
    subject_owner,
)
from core.classroom.settings import ClassroomSettings, load_classroom_settings
from core.config import StudentKind, TrainConfig
from core.paths import cache_dir, runs_dir
from core.runs.experiment import TrainingRun, prepare_items
from core.runs.hosting import owner_id
from core.runs.store import list_runs, set_shared
from core.teachers.teacher import CachedTeacher

ADA, BOB = owner_id(None, "ada0token01"), owner_id(None, "bob0token02")


def _run(owner: str, tiny_words, fake_teacher, p: float = 0.5) -> str:
    prepared = prepare_items(tiny_words, "none", CachedTeacher(fake_teacher, cache_dir() / "teachers"))
    run = TrainingRun(
        TrainConfig(teacher=fake_teacher.id, model="B", p=p, epochs=1),
        prepared,
        runs_dir(),
        device="cpu",
        extra={"owner": owner},
    )
    list(run)
    return run.run_id


def test_teachers_are_named_by_email_subject_or_lab_id(tmp_path):
    path = tmp_path / "lab.toml"
    path.write_text(
        '[host]\nhosted = true\n[classroom]\nteachers = ["Ada@School.edu", "sub-42", "t-0123456789abcdef"]\n'
    )
    settings = load_classroom_settings(env={}, path=path)
    assert settings.is_teacher(email="ada@school.edu")
    assert settings.is_teacher(subject="sub-42") and not settings.is_teacher(subject="SUB-42")
    assert settings.is_teacher(owner="t-0123456789abcdef")
    assert not settings.is_teacher(email="bob@school.edu", subject="sub-7", owner=ADA)
    assert not settings.is_teacher()
    env = {"EMBEDDING_LAB_TEACHERS": "bob@school.edu, x"}  # the environment wins over the file
    assert load_classroom_settings(env=env, path=path).teachers == ("bob@school.edu", "x")
    assert load_classroom_settings(env={}, path=tmp_path / "none.toml") == ClassroomSettings()


@pytest.mark.parametrize(
    "text, said",
    [
        ("[classroom]\nteacher = ['a']\n", "unknown classroom setting"),
        ("[classroom]\nteachers = [1]\n", "list of texts"),
    ],
)
def test_a_bad_classroom_setting_is_a_sentence(tmp_path, text, said):
    path = tmp_path / "lab.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=said):
        load_classroom_settings(env={}, path=path)


def test_a_signed_in_person_is_their_subject_and_issuer_never_their_email():
    ada = subject_owner("248289761001", "https://accounts.example")
    assert ada == subject_owner(" 248289761001 ", "https://accounts.example")  # the same on every browser
    assert ada != subject_owner("248289761001", "https://other.example")  # two providers' subjects never meet
    assert ada.startswith("s-") and "248289761001" not in ada
    with pytest.raises(ValueError, match="subject"):
        subject_owner("", "https://accounts.example")


def test_visits_and_nicknames_are_kept_per_person(lab_home):
    folder = people_dir()
    ada = subject_owner("ada-sub")
    record_visit(folder, ada, now=100.0, name="Ada Lovelace", email="ada@school.edu", subject="ada-sub")
    record_visit(folder, BOB, now=200.0, token="bob0token02")
    assert set_nickname(folder, BOB, "  Bob \n the builder ") == "Bob the builder"
    record_visit(folder, ada, now=300.0, name="Ada L.")  # a later visit keeps the nickname she had
    (folder / "t-ffffffffffffffff.json").write_text("{not json")  # a damaged file is left out, never fatal
    people = read_people(folder)
    assert [p["owner"] for p in people] == [ada, BOB]  # the most recently seen first
    assert people[0]["nickname"] == "Ada Lovelace" and people[0]["signed_in"] and people[0]["first_seen"] == 100.0
    assert people[1]["token"] == "bob0token02" and not people[1]["signed_in"]
    assert nicknames(folder) == {ada: "Ada Lovelace", BOB: "Bob the builder"}
    with pytest.raises(ValueError, match="at most 40"):
        set_nickname(folder, BOB, "x" * 41)


def test_the_board_counts_each_persons_runs_in_the_class_that_is_on(lab_home, tiny_words, fake_teacher):
    record_visit(people_dir(), ADA, token="ada0token01")
    set_nickname(people_dir(), ADA, '=HYPERLINK("http://evil")')
    mine = _run(ADA, tiny_words, fake_teacher, p=0.5)
    bobs = _run(BOB, tiny_words, fake_teacher, p=0.2)
    lab = _run("", tiny_words, fake_teacher)  # the lab's own example: no one's, not the class's
    runs = list_runs(runs_dir())
    klass = board.current_class()
    results = board.results_table(runs, read_people(people_dir()), klass)
    assert set(results["run_id"]) == {mine, bobs} and lab not in results["run_id"].to_list()
    row = results.filter(pl.col("run_id") == mine).row(0, named=True)
    assert row["person"] == '=HYPERLINK("http://evil")' and row["student"] == StudentKind.B.label
    assert row["answers_used"] == runs.filter(pl.col("run_id") == mine)["teacher_queries"][0] > 0
    assert row["heldout_cosine"] == runs.filter(pl.col("run_id") == mine)["heldout_cosine"][0]
    assert results.filter(pl.col("run_id") == bobs)["person"][0] == "no name yet · #" + BOB[-4:]
    text = board.results_csv(results).decode("utf-8")
    assert text.startswith("\ufeffperson,lab id,student,p (share of words asked),answers used,held-out cosine")
    assert "'=HYPERLINK" in text  # a spreadsheet shows it, never runs it
    table = board.people_table(read_people(people_dir()), results)
    assert table.row(0, named=True)["here_now"] and table.row(0, named=True)["runs"] == 1


def test_archiving_keeps_the_old_class_and_deletes_nothing(lab_home, tiny_words, fake_teacher):
    before = _run(ADA, tiny_words, fake_teacher)
    with pytest.raises(ValueError, match="name"):
        board.archive_class(None, list_runs(runs_dir()), "  ")
    old = board.current_class()
    opened = board.archive_class(None, list_runs(runs_dir()), "Tuesday group", now=time.time() + 1)
    listed = board.classes()
    assert [c["name"] for c in listed] == [old["name"], "Tuesday group"] and listed[0]["archived"] is not None
    assert board.current_class()["id"] == opened["id"]
    kept = board.archived_results(None, old["id"])
    assert kept["run id"].to_list() == [before]
    assert before in list_runs(runs_dir())["run_id"].to_list()  # the run is still its owner's
    assert board.results_table(list_runs(runs_dir()), [], opened).is_empty()  # the new class starts empty
    assert (board.archive_folder(None, old["id"]) / "people.csv").exists()


def test_a_teacher_hides_or_removes_a_shared_run_and_the_log_says_so(lab_home, tiny_words, fake_teacher):
    shown, gone = _run(BOB, tiny_words, fake_teacher), _run(BOB, tiny_words, fake_teacher, p=0.3)
    for run_id in (shown, gone):
        set_shared(runs_dir(), run_id, True)
    gallery = board.gallery_table(list_runs(runs_dir()), {BOB: "Bob"})
    assert set(gallery["run_id"]) == {shown, gone} and set(gallery["person"]) == {"Bob"}
    assert "its owner still has it" in board.moderate(None, runs_dir(), shown, "hide", by="t-teacher")
    assert "deleted" in board.moderate(None, runs_dir(), gone, "remove", by="t-teacher")
    runs = list_runs(runs_dir())
    assert runs["run_id"].to_list() == [shown] and not runs["shared"][0]
    assert [(e["action"], e["run_id"], e["owner"]) for e in board.moderation_log()] == [
        ("remove", gone, BOB),
        ("hide", shown, BOB),
    ]
    with pytest.raises(ValueError, match="no run"):
        board.moderate(None, runs_dir(), gone, "hide", by="t-teacher")


def test_the_queue_shows_who_waits_in_which_place():
    state = SimpleNamespace
    config = TrainConfig(model="B", p=0.1)
    jobs = [
        state(owner=BOB, state=state(value="queued"), submitted=30.0, config=config, estimate_seconds=120.0),
        state(owner=ADA, state=state(value="running"), submitted=10.0, config=config, estimate_seconds=None),
        state(owner=ADA, state=state(value="queued"), submitted=20.0, config=config, estimate_seconds=None),
    ]
    table = board.queue_table(jobs, {ADA: "Ada"}, now=90.0)
    assert table["person"].to_list() == ["Ada", "Ada", "no name yet · #" + BOB[-4:]]
    assert table["position"].to_list() == [0, 1, 2] and table["state"].to_list() == ["running", "queued", "queued"]
    assert table["what"][0] == f"{StudentKind.B.label}, p = 0.1" and table["estimate_minutes"][2] == 2.0
    assert table["waiting_minutes"].to_list() == [1.3, 1.2, 1.0]
