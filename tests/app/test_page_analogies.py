from pages._plain import literal
from tests.app.apphelpers import make_app, no_errors


def test_analogy_presets_and_pairs(stored_run):
    at = make_app("analogies", run_id=stored_run)
    no_errors(at)
    table = at.dataframe[0].value
    assert list(table.columns) == [
        "rank",
        "teacher says",
        "teacher cosine",
        "student says",
        "student cosine",
    ]  # short headers: none is cut
    assert len(table) == 5
    at.button(key="analogy_paris - france + poland").click().run()
    assert at.text_input(key="analogy").value == "paris - france + poland"
    no_errors(at)


def test_bad_input_gets_a_sentence(stored_run):
    at = make_app("analogies", run_id=stored_run)
    at.text_input(key="analogy").input("king plus queen").run()
    assert literal("a - b + c") in at.warning[0].value  # shown as typed: the question can come from the address
    at.text_input(key="analogy").input("king - man + unicorn").run()
    assert "unicorn" in at.warning[0].value
    at.text_area(key="pairs").input("cat, dog\none two three").run()
    assert any("Line 2" in w.value for w in at.warning)
    assert not at.exception


def test_the_storys_analogies_door_puts_its_words_first_and_keeps_the_benchmark_answers(stored_run):
    from core.evaluation.evaluate import ANSWERS_FILE
    from core.paths import runs_dir

    at = make_app("analogies", **{"run_id": stored_run, "story_highlight": ("queen", "king")})
    no_errors(at)
    assert at.text_area(key="pairs").value.splitlines()[0] == "queen, king"
    assert at.text_input(key="analogy").value == "king - man + woman"
    assert at.toggle(key="polite").value is True
    assert any(i.value.startswith("Opened from the story") for i in at.info)
    assert (runs_dir() / stored_run / ANSWERS_FILE).exists()  # answered once, then read from the run's folder
