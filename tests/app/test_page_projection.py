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
    # A map no test has asked for (200 of the words): its UMAP cannot be cached, so it starts in the background.
    at.number_input(key="sample_size").set_value(200).run()
    no_errors(at)
    assert any(i.value.startswith("UMAP is computing") for i in at.info), [i.value for i in at.info]
    charts = at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    specs = [c.proto.spec for c in charts]
    assert any("(PCA, 200 words)" in spec for spec in specs), specs  # meanwhile, the PCA map of the same words
