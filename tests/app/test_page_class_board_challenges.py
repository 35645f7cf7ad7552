"""The class board (pages/class_board.py) lists the class's challenges at a glance (core.classroom.challenge
.challenges_table): title, what scores it, the budget, when it closes, whether it is open, who submitted; and links
to the Challenge page. Nothing of the hidden words."""

from __future__ import annotations

import json
import time

from streamlit.testing.v1 import AppTest

from core.classroom import challenge as ch
from core.runs.hosting import owner_id
from tests.app.apphelpers import ROOT, no_errors

TEACHER = "teach0token1"


def test_the_board_lists_the_challenges(monkeypatch):
    monkeypatch.setenv("EMBEDDING_LAB_HOSTED", "1")
    monkeypatch.setenv("EMBEDDING_LAB_TEACHERS", owner_id(None, TEACHER))
    words = [f"w{i:03d}" for i in range(200)]
    made = ch.create_challenge(
        None,
        words,
        title="Fewest answers",
        teacher="hash-32",
        vocabulary="test",
        budget=40,
        deadline=time.time() + 3600,
    )
    frame = ch.challenges_table()
    assert frame.select("title", "scored_by", "budget", "open", "people", "submissions").rows() == [
        ("Fewest answers", "held-out cosine to the teacher", 40, True, 0, 0)
    ]
    assert ch.challenges_table(now=made.deadline)["open"].to_list() == [False]

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params["u"] = TEACHER
    at.run()
    at.switch_page("pages/class_board.py").run()
    no_errors(at)
    (shown,) = [d.value for d in at.dataframe if "title" in d.value.columns]  # the board's challenges table
    assert shown["title"].to_list() == ["Fewest answers"] and shown["open"].all() and shown["budget"].to_list() == [40]
    hidden = json.loads((ch.challenges_dir() / made.id / "hidden.json").read_text())
    assert not set(hidden["public"] + hidden["private"]) & set(" ".join(map(str, shown.values.ravel())).split())
