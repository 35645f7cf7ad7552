"""The Poisoning lab page: one run's losses, the damage-vs-rate grid with defences, the paper's claim re-tested."""

import pytest

from core.paths import runs_dir
from core.runs.store import list_runs
from pages._shared import job_board
from tests.app.apphelpers import make_app, no_errors, wait_for


def test_missing_prerequisite_says_what_to_do():
    at = make_app("poisoning")
    no_errors(at)
    assert "compute the teacher's embeddings" in at.info[0].value


def test_one_poisoned_run_shows_losses_and_detection(prepared, vocab, stored_run):
    at = make_app("poisoning", prepared=prepared, vocabulary=vocab, teacher_name="hash-32")
    no_errors(at)
    assert at.selectbox(key="poison_run").value == stored_run
    labels = [m.label for m in at.metric]
    assert labels[0].startswith("Poisoned, of") and labels[1:4] == [
        "Suspects (loss above the line)",
        "Precision",
        "Recall",
    ]
    assert any("look poisoned" in m.value for m in at.markdown)
    assert any("free vector" in c.value for c in at.caption)  # Model B: the loss has little to give away


@pytest.mark.slow  # trains a grid of runs
def test_damage_grid_trains_and_compares_defences(prepared, vocab):
    at = make_app("poisoning", prepared=prepared, vocabulary=vocab, teacher_name="hash-32")
    no_errors(at)
    assert any("No poisoned run" in i.value for i in at.info)
    at.multiselect(key="poison_rates").set_value([0.1])
    at.multiselect(key="poison_adversaries").set_value(["random", "negate"])
    at.multiselect(key="poison_defences").set_value(["none", "trimmed", "robust"])
    at.button(key="FormSubmitter:poison_grid-Update the grid").click().run()
    no_errors(at)
    start = at.button(key="poison_grid_start")
    assert "(9 runs, 9 to train)" in start.label  # per defence (3): one clean run + one per kind of poison (2)
    start.click().run()
    job = job_board().get(at.session_state["poison_sweep"])
    assert wait_for(lambda: job.done, 120), job.snapshot()
    at.run()
    no_errors(at)
    runs = list_runs(runs_dir())
    assert runs.height == 9 and set(runs["defence"].to_list()) == {"none", "trimmed", "robust"}
    assert set(runs.filter(runs["poison"] > 0)["adversary"].to_list()) == {"random", "negate"}
    assert at.dataframe, "the defence summary table"
    table = at.dataframe[0].value
    assert set(table["defence"].to_list()) == {"No defence (the paper's)", "Trimmed loss", "Robust (bounded) loss"}
    assert (table["runs"] == 2).all()
    # The analogy score: every run is evaluated (once) and the chart is redrawn.
    at.radio(key="damage_metric").set_value("analogy_pct_of_teacher").run()
    no_errors(at)
    # A poisoned run of the grid now appears in section 1.
    assert at.selectbox(key="poison_run").options


@pytest.mark.slow  # trains a grid of runs
def test_paper_claim_is_retested_with_a_verdict(prepared, vocab):
    at = make_app("poisoning", prepared=prepared, vocabulary=vocab, teacher_name="hash-32")
    assert "40 epochs" in at.button(key="claim_start").label  # what it says is what it trains and draws
    at.button(key="claim_start").click().run()
    job = job_board().get(at.session_state["claim_sweep"])
    assert wait_for(lambda: job.done, 300), job.snapshot()
    # A clean Model B run at a p of its own (not the paper's) has no poisoned twin: it must not add a blank row.
    from core.config import TrainConfig
    from core.runs.experiment import TrainingRun

    list(
        TrainingRun(
            TrainConfig(teacher="hash-32", p=0.2, epochs=40, vocabulary=vocab.label), prepared, runs_dir(), device="cpu"
        )
    )
    at.run()
    no_errors(at)
    assert any("at 10 values of p, each drawn over its first 40 epochs" in c.value for c in at.caption)
    verdicts = [w.value for w in at.warning] + [s.value for s in at.success]
    assert any(
        v.startswith("Training loss: at p = 0.095 after 20 epochs with 10% poison") and "Verdict:" in v
        for v in verdicts
    ), verdicts
    assert not [b for b in at.button if b.key == "claim_start"]  # everything trained: the button is gone


def test_the_storys_poisoning_door_is_no_dead_end(stored_run, vocab):
    """Step 5's door with no data prepared in the session: the run's own setup is rebuilt from the teacher's cache
    (never by running it), and the door's run is the one selected."""
    from pages._loaders import setups
    from pages._shared import K

    setups()["vocabularies"][vocab.label] = vocab
    at = make_app("poisoning", **{K.RUN: stored_run, "story_highlight": ("king", "queen")})
    no_errors(at)
    assert not any("compute the teacher's embeddings" in i.value for i in at.info)
    assert any(i.value.startswith("Opened from the story") for i in at.info)
    assert at.selectbox(key="poison_run").value == stored_run
