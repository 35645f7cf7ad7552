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
