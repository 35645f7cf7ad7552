"""The warm-up's combined steps as the pages and the job board name them (the earlier per-view names answer with
the step that now computes them), and the time a waiting visitor is told: from the step's own progress, else from
this machine's measured rates."""

from __future__ import annotations

import time

from core import warm
from core.warm import Step, WarmUp


def recording_step(name, calls):
    def run(progress):
        calls.append(name)
        progress(3, 3)

    return Step(name, f"the {name} thing", run)


def test_the_earlier_names_answer_with_the_step_that_computes_them():
    calls = []
    runner = WarmUp([recording_step(n, calls) for n in ("minilm-words", "mpnet-words", "minilm-sentences")])
    for old, new in warm.ALIASES.items():
        assert old in runner and runner.states[old] is runner.states[new]
        assert runner.states.get(old) is runner.states[new]
    assert "nothing-like-it" not in runner and runner.states.get("nothing-like-it") is None
    assert runner.ensure("mpnet-layers").status == "done" and calls == ["mpnet-words"]
    assert runner.ensure("mpnet-words").status == "done" and calls == ["mpnet-words"]  # the same step: done once
    assert runner.waiting_for("mpnet-layers") is None
    assert len(list(runner.states.values())) == 3 and runner.status() == "Preparing: the minilm-words thing (1 of 3)…"


def test_both_kinds_of_a_models_word_features_come_from_one_step():
    assert warm.step_for_words("minilm", "sentence") == warm.step_for_words("minilm", "layers") == "minilm-words"
    assert warm.step_for_words("mpnet", "layers") == "mpnet-words"
    assert warm.step_for_words("static-mpnet", "layers") == "static-mpnet"
    assert warm.step_for_words("hash-32") is None


def test_the_default_steps_are_one_per_model_and_text_list(monkeypatch):
    monkeypatch.setattr(warm.steps, "_registered", [])
    monkeypatch.setattr(warm.steps, "default_items", lambda: ("a", "b"))
    monkeypatch.setattr(warm.steps, "default_texts", lambda: ("one text",))
    names = [s.name for s in warm.default_steps()]
    assert names == [
        "kernels",
        "minilm-words",
        "static",
        "static-mpnet",
        "mpnet-words",
        "umap",
        "story",
        "story-pages",  # what the story's doors open, computed for its runs right after them
        "minilm-sentences",
        "mpnet-sentences",
        "zero-answer",  # last: the story's runs are ready first (the map takes minutes)
    ]
    assert not set(warm.ALIASES) & set(names) and set(warm.ALIASES.values()) <= set(names)


def test_a_waiting_visitor_is_told_about_how_long_from_the_steps_progress():
    runner = WarmUp([Step("mpnet-words", "MPNet vectors of 10,002 words", lambda progress: None, lambda: 999.0)])
    state = runner.states["mpnet-words"]
    state.status, state.started, state.done, state.total = "running", time.monotonic() - 60.0, 2_000, 6_000
    left = runner.seconds_left("mpnet-words")
    assert 119.0 < left < 121.0  # 60 s for a third: two more of those (its progress wins over the estimate)
    assert runner.waiting_for("mpnet-words") == (
        "The lab is preparing MPNet vectors of 10,002 words in the background: 2,000 of 6,000, about 2 min left. "
        "Waiting for it rather than computing it twice…"
    )
    state.done = state.total
    assert "finishing" in runner.waiting_for("mpnet-words")
    state.status = "done"
    assert runner.seconds_left("mpnet-words") == 0.0 and runner.waiting_for("mpnet-words") is None


def test_before_any_progress_the_estimate_speaks():
    runner = WarmUp(
        [
            Step("a", "the a thing", lambda progress: None, lambda: 300.0),
            Step("b", "the b thing", lambda progress: None),
            Step("c", "the c thing", lambda progress: None, lambda: 1 / 0),
        ]
    )
    assert runner.seconds_left("a") == 300.0
    assert runner.waiting_for("a").startswith("The lab is preparing the a thing in the background: about 5 min left.")
    state = runner.states["a"]
    # running, no progress yet: the estimate, less the time spent
    state.status, state.started = "running", time.monotonic() - 60.0
    assert 239.0 < runner.seconds_left("a") <= 240.0
    assert runner.seconds_left("b") is None
    assert runner.waiting_for("b").startswith("The lab is preparing the b thing in the background.")
    assert runner.seconds_left("c") is None  # a broken estimate says nothing rather than break the page


def test_the_bundled_models_estimates_read_this_machines_rates(tmp_path, monkeypatch):
    from core.teachers.rates import record_rate

    monkeypatch.setenv("EMBEDDING_LAB_HOME", str(tmp_path))
    monkeypatch.setattr(warm.steps, "_registered", [])
    monkeypatch.setattr(warm.steps, "default_items", lambda: tuple(f"w{i}" for i in range(1000)))
    monkeypatch.setattr(warm.steps, "default_texts", lambda: tuple(f"text {i}" for i in range(500)))
    steps = {s.name: s for s in warm.default_steps()}
    record_rate("all-mpnet-base-v2", 1000, 7.0)  # 7 ms per word
    record_rate("all-MiniLM-L6-v2-tokens", 500, 10.0)  # 20 ms per text
    assert abs(steps["mpnet-words"].estimate() - 7.0) < 1e-9
    assert abs(steps["minilm-sentences"].estimate() - 10.0) < 1e-9
    assert steps["umap"].estimate() == warm.UMAP_COMPILE_S


def test_the_command_line_skips_what_only_a_process_keeps_unless_named(monkeypatch, capsys):
    import argparse
    import json

    import core.cli.setup as cli  # where the command finds what the test replaces

    calls = []
    steps = [recording_step("minilm-words", calls), recording_step("umap", calls)]
    steps[1] = Step("umap", "UMAP compiled", steps[1].run, in_process_only=True)
    monkeypatch.setattr(cli, "default_steps", lambda lab: list(steps))
    assert cli.cmd_warm(argparse.Namespace(steps="", json=True)) == 0
    assert calls == ["minilm-words"]  # compiling UMAP in a process that then exits helps nobody
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["steps"] == 1
    assert cli.cmd_warm(argparse.Namespace(steps="umap,minilm-layers", json=True)) == 0
    assert calls == ["minilm-words", "minilm-words", "umap"]  # named: run (an earlier name for its step too)
    assert [s.name for s in warm.default_steps() if s.in_process_only] == ["umap"]
