from core.evaluation.projection import Method
from tests.app.apphelpers import make_app, no_errors


def test_projection_with_highlights_and_neighbours(stored_run):
    at = make_app("projection", run_id=stored_run)
    no_errors(at)
    at.radio(key="proj_method").set_value(Method.PCA).run()
    no_errors(at)
    assert at.text_input(key="highlight").value == "nonviolent, antiaggressive"
    assert len(at.dataframe) == 2  # one neighbours table per highlighted word
    at.button(key="preset_Royalty").click().run()
    assert at.text_input(key="highlight").value == "king, queen, man, woman"
    assert len(at.dataframe) == 4
    at.text_input(key="highlight").input("king, notaword").run()
    assert "notaword" in at.warning[0].value


def test_umap_starts_in_the_background_and_pca_shows_meanwhile(stored_run):
    at = make_app("projection", run_id=stored_run)
    no_errors(at)
    assert any("UMAP is computing" in i.value for i in at.info) or any("UMAP" in str(c.value) for c in at.markdown)
