"""The class board (pages/class_board.py): a teacher sees each person's runs by nickname, moderates the gallery and
archives the class; a student's session cannot open it, by its address or by setting its widgets' keys. And runs are
labelled by who made them (pages/_shared.py run_origin): the lab's own examples as the lab's, a classmate's by their
nickname."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.classroom import board
from core.classroom.people import people_dir, record_visit, set_nickname
from core.paths import runs_dir
from core.runs.hosting import owner_id
from core.runs.store import list_runs, set_shared
from tests.app.apphelpers import ROOT, no_errors, owned_run

TEACHER, ADA, BOB = "teach0token1", "ada0token01", "bob0token02"


def _open(token: str, page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params["u"] = token
    at.run()
    if page:
        at.switch_page(f"pages/{page}.py").run()
    return at


def _class_here(monkeypatch, prepared, vocab) -> dict:
    monkeypatch.setenv("EMBEDDING_LAB_HOSTED", "1")
    monkeypatch.setenv("EMBEDDING_LAB_TEACHERS", owner_id(None, TEACHER))  # the teacher's lab id, as lab.toml names it
    ada, bob = owner_id(None, ADA), owner_id(None, BOB)
    record_visit(people_dir(), ada, token=ADA)  # Ada came by her personal link
    set_nickname(people_dir(), ada, "Ada")
    set_nickname(people_dir(), bob, "Bob")
    ids = {"ada": owned_run(ada, prepared, vocab), "bob": owned_run(bob, prepared, vocab, p=0.2)}
    set_shared(runs_dir(), ids["bob"], True)
    return ids


def _board_shown(at: AppTest) -> bool:
    return any(t.value == "Class board" for t in at.title) or any(
        str(b.key).startswith("board_") for b in [*at.button, *at.checkbox, *at.text_input]
    )


def test_the_teacher_sees_the_class_moderates_the_gallery_and_archives(monkeypatch, prepared, vocab):
    ids = _class_here(monkeypatch, prepared, vocab)
    at = _open(TEACHER, "class_board")
    no_errors(at)
    assert _board_shown(at)
    results = next(d.value for d in at.dataframe if "run_id" in d.value.columns)
    assert dict(zip(results["run_id"], results["person"])) == {ids["ada"]: "Ada", ids["bob"]: "Bob"}
    assert any(b.key == "board_csv" for b in at.get("download_button"))
    at.button(key=f"board_hide_{ids['bob']}").click().run()  # out of the gallery; Bob keeps it
    no_errors(at)
    assert not list_runs(runs_dir()).filter(list_runs(runs_dir())["run_id"] == ids["bob"])["shared"][0]
    assert any("its owner still has it" in i.value for i in at.info)
    at.selectbox(key="board_link_for").set_value(owner_id(None, ADA)).run()  # Ada lost her link: given again
    assert any(c.value.endswith(f"?u={ADA}") for c in at.code)
    at.text_input(key="board_new_class").input("Tuesday group")
    at.button(key="board_archive").click().run()  # not ticked "I am sure": nothing happens but a sentence
    assert len(board.classes()) == 1 and any("I am sure" in i.value for i in at.info)
    at.checkbox(key="board_archive_sure").check()
    at.button(key="board_archive").click().run()
    no_errors(at)
    assert [c["name"] for c in board.classes()][-1] == "Tuesday group"
    assert set(list_runs(runs_dir())["run_id"]) == set(ids.values())  # nothing deleted


def test_a_student_cannot_open_the_board_by_address_or_by_widget_key(monkeypatch, prepared, vocab):
    ids = _class_here(monkeypatch, prepared, vocab)
    student = _open(ADA)
    no_errors(student)
    assert not _board_shown(student)
    with pytest.raises(ValueError, match="Could not find a navigation page"):  # the board's address: no such page
        student.switch_page("pages/class_board.py")
    student.run()
    no_errors(student)
    assert not _board_shown(student)
    # The board's widgets' keys set by hand: hide Bob's run, archive the class.
    student.session_state[f"board_hide_{ids['bob']}"] = True
    student.session_state["board_archive_sure"] = True
    student.session_state["board_new_class"] = "hijacked"
    student.session_state["board_archive"] = True
    student.run()
    assert not _board_shown(student)
    assert len(board.classes()) == 1
    assert list_runs(runs_dir()).filter(list_runs(runs_dir())["run_id"] == ids["bob"])["shared"][0]


def test_runs_are_labelled_by_who_made_them(monkeypatch, prepared, vocab):
    ids = _class_here(monkeypatch, prepared, vocab)
    lab = owned_run("", prepared, vocab, p=0.3)  # trained ahead by the lab (the story's runs), owned by nobody
    set_shared(runs_dir(), lab, True)
    at = _open(ADA, "runs")
    no_errors(at)
    shown = " | ".join(str(option) for option in at.multiselect(key="runs_picked").options)
    assert "shared by Bob" in shown and "the lab's example" in shown and "shared by a classmate" not in shown
    assert ids["ada"][-4:] in shown


def test_a_teacher_sets_a_challenge_and_a_student_trains_and_submits(monkeypatch, prepared, vocab):
    from core.classroom import challenge as ch
    from pages._shared import K

    _class_here(monkeypatch, prepared, vocab)
    state = {K.PREPARED: prepared, K.VOCAB: vocab, K.TEACHER: "hash-32"}

    def open_board(token):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.query_params["u"] = token
        for key, value in state.items():
            at.session_state[key] = value
        at.run()
        return at.switch_page("pages/leaderboard.py").run()

    teacher = open_board(TEACHER)
    no_errors(teacher)
    teacher.number_input(key="ch_budget").set_value(60)
    teacher.button(key="ch_create").click().run()
    no_errors(teacher)
    (made,) = ch.list_challenges()
    assert made.budget == 60 and made.vocabulary == vocab.label

    ada = open_board(ADA)
    no_errors(ada)
    assert not [b for b in ada.button if b.key == "ch_create"]  # setting challenges is for teachers
    ada.number_input(key="lb_epochs").set_value(2)
    ada.button(key="lb_train").click().run()
    no_errors(ada)
    assert any("Submitted: public score" in s.value for s in ada.success)
    (entry,) = ch.submissions(None, made)
    assert entry["owner"] == owner_id(None, ADA) and entry["answers"] <= 60
    assert ada.dataframe[0].value["person"].to_list() == ["Ada"]
