import json

import pytest

from core.evaluation.projection import Method
from pages._loaders import setups
from pages._shared import K
from tests.app.apphelpers import make_app, no_errors


def test_projection_with_highlights_and_neighbours(stored_run):
    at = make_app("projection", run_id=stored_run)
    no_errors(at)
    at.radio(key="proj_method").set_value(Method.PCA).run()
    no_errors(at)
    assert at.text_input(key="highlight").value == "king, queen"  # the story's words, not the paper's pair
    assert len(at.dataframe) == 2  # one neighbours table per highlighted word
    assert at.toggle(key="polite").value is True  # offensive words left out of the neighbour lists by default
    at.button(key="preset_Royalty").click().run()
    assert at.text_input(key="highlight").value == "king, queen, man, woman"
    assert len(at.dataframe) == 4
    at.text_input(key="highlight").input("king, notaword").run()
    assert "notaword" in at.warning[0].value


def test_umap_starts_in_the_background_and_pca_shows_meanwhile(stored_run):
    at = make_app("projection", run_id=stored_run)
    no_errors(at)
    # A map no test has asked for (200 of the words): its UMAP cannot be cached, so it starts in the background.
    at.number_input(key="sample_size").set_value(200).run()
    no_errors(at)
    assert any(i.value.startswith("UMAP is computing") for i in at.info), [i.value for i in at.info]
    charts = at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    specs = [c.proto.spec for c in charts]
    assert any("(PCA, 200 words)" in spec for spec in specs), specs  # meanwhile, the PCA map of the same words


@pytest.fixture
def door(stored_run, vocab):
    """What one of the story's doors leaves in a session that prepared nothing (pages/story.py): the run and the words
    to highlight; the server holds the run's word list (as it holds the default words)."""
    setups()["vocabularies"][vocab.label] = vocab
    return {K.RUN: stored_run, "story_highlight": ("queen", "man")}


def test_a_story_door_opens_the_map_on_its_run_and_words_and_carries_the_runs_setup(door, stored_run):
    at = make_app("projection", **door)
    no_errors(at)
    assert at.selectbox(key="run_select").value == stored_run
    assert at.text_input(key="highlight").value == "queen, man"
    assert [m.value for m in at.markdown if m.value.startswith("**queen**") or m.value.startswith("**man**")]
    prepared = at.session_state[K.PREPARED]  # rebuilt from the teacher's cache: the next page is no dead end
    assert prepared is not None and prepared.teacher_id == "hash-32" and at.session_state[K.TEACHER] == "hash-32"
    assert "story_highlight" not in at.session_state  # read once: a later visit keeps the person's own words


def test_presenter_mode_hides_the_run_picker_presets_and_word_box(stored_run):
    at = make_app("projection", run_id=stored_run, presenter_mode=True)
    no_errors(at)
    hidden = [e.label for e in at.expander if "hidden for the audience" in e.label]
    assert hidden == ["The run (hidden for the audience)", "The map's settings (hidden for the audience)"], hidden
    assert at.selectbox(key="run_select") and at.text_input(key="highlight")  # folded, not gone: the values stay
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")  # the map stays


def test_the_labels_of_two_close_words_do_not_sit_on_each_other():
    """king and queen are close in meaning, so close on the map: their teacher labels (both left of their marks)
    were drawn over each other; now the second moves a line away."""
    import polars as pl

    from core.charts import LABEL_PX, projection_labels

    frame = pl.DataFrame(
        {
            "x": [0.0, 0.01, 0.5, 0.52, 1.0, -1.0],
            "y": [0.0, 0.005, 0.4, 0.41, 1.0, -1.0],
            "word": ["king", "queen", "king", "queen", "a", "b"],
            "model": ["teacher", "teacher", "student", "student", "teacher", "teacher"],
            "highlighted": [True, True, True, True, False, False],
        }
    )
    labels = projection_labels(frame, frame.filter(pl.col("highlighted")))
    assert sorted(labels["label"]) == ["king (student)", "king (teacher)", "queen (student)", "queen (teacher)"]
    line = LABEL_PX["line"] * 2.0 / LABEL_PX["height"]  # one line of text, in the map's units (y spans 2.0)
    for side in ("left", "right"):
        ys = sorted(labels.filter(pl.col("side") == side)["y"])
        assert ys[1] - ys[0] >= line * 0.99, (side, ys)


def test_a_map_opened_without_a_run_lands_on_the_story_pair_not_the_labs_newest_run(monkeypatch, prepared):
    """A presenter opening the map from the sidebar (no ?run=, nothing trained) sees the story's Model B, whose map
    the warm-up computed ahead, not whichever of the lab's runs was stored last (its UMAP would start computing)."""
    from core import story
    from core.paths import runs_dir
    from core.runs.store import list_runs

    small = story.StorySettings(teacher="hash-32", cheap="hash-16", p=0.01, epochs=3, ps=(0.01, 0.03))
    monkeypatch.setattr(story.StorySettings, "from_env", classmethod(lambda cls, env=None: small))
    ids = story.warm_story(settings=small, prepared=prepared)
    pair_b, last = ids[0], runs_dir() / ids[-1] / "run.json"
    meta = json.loads(last.read_text())
    last.write_text(json.dumps({**meta, "created": "2099-12-31T23:59:59+0000"}))  # stored last, as on a warm-up
    assert list_runs(runs_dir())["run_id"][0] == ids[-1] != pair_b  # the newest is another of the lab's runs
    at = make_app("projection", presenter_mode=True)
    no_errors(at)
    assert at.selectbox(key="run_select").value == pair_b
