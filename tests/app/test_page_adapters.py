"""The Adapter lab page: texts in, both models' vectors, an adapter trained live, cost, playground."""

from core.sentences.adapters import ARCH_LABELS
from tests.app.apphelpers import make_app, no_errors


def prepare(at, source="paste"):
    at.radio(key="adapter_source").set_value(source).run()
    if source == "paste":
        words = ["fire", "flood", "storm", "city", "river", "house", "road", "school", "market", "team", "game", "win"]
        lines = [f"{words[i % 12]} {words[(i * 5) % 12]} {words[(i * 7 + 3) % 12]} number{i}" for i in range(120)]
        at.text_area(key="adapter_paste").input("\n".join(lines)).run()
    at.selectbox(key="adapter_cheap").set_value("hash-16").run()
    at.selectbox(key="adapter_teacher").set_value("hash-32").run()
    at.button(key="adapter_prepare").click().run()
    no_errors(at)


def test_train_measure_and_play():
    at = make_app("adapters")
    no_errors(at)
    prepare(at)
    assert any(s.value.startswith("Ready: 120 texts") for s in at.success)
    at.radio(key="adapter_arch").set_value("rnn")
    at.radio(key="adapter_pooling").set_value("max")
    at.select_slider(key="adapter_p").set_value(0.5)
    at.number_input(key="adapter_epochs").set_value(3)
    at.button(key="FormSubmitter:adapter_form-Train").click().run()
    no_errors(at)
    result = at.session_state["adapter_results"][-1]
    assert result["config"].arch == "rnn" and result["config"].pooling == "max" and len(result["records"]) == 3
    assert [m.label for m in at.metric][:3] == [
        "Cosine to the teacher (unseen texts)",
        "Distance to the teacher (Euclidean)",
        "Average-vector baseline (cosine)",
    ]
    at.button(key="adapter_cost").click().run()
    no_errors(at)
    cost = at.session_state["adapter_cost_table"]
    assert set(cost["kind"].to_list()) == {"teacher", "cheap model + adapter"}
    # the cost chart shows the adapter that is kept: its best held-out epoch, not its last
    best = max(r["heldout_cosine"] for r in result["records"])
    assert cost.filter(cost["kind"] == "cheap model + adapter")["heldout_cosine"].to_list() == [best]
    at.text_input(key="adapter_query").input("fire storm").run()
    no_errors(at)
    assert any(m.label == "Same texts in both top 5 (overlap@5)" for m in at.metric)
    assert any(m.label == "Similarity under cheap model + adapter" for m in at.metric)


def test_bad_texts_get_a_sentence():
    at = make_app("adapters")
    at.radio(key="adapter_source").set_value("paste").run()
    at.text_area(key="adapter_paste").input("only\nthree\nlines").run()
    assert not at.exception
    assert any("at least 20 texts" in w.value for w in at.warning)
    at.text_area(key="adapter_paste").input("\n \n").run()
    assert not at.exception and any("Choose the texts" in i.value for i in at.info)


def test_same_model_twice_is_refused():
    at = make_app("adapters")
    at.selectbox(key="adapter_cheap").set_value("mpnet").run()
    assert not at.exception and any("two different models" in w.value for w in at.warning)


def test_finetuning_a_model_without_a_transformer_gets_a_sentence():
    at = make_app("adapters")
    prepare(at)
    at.radio(key="adapter_arch").set_value("finetune")
    at.button(key="FormSubmitter:adapter_form-Train").click().run()
    assert not at.exception
    assert any("real transformer" in e.value for e in at.error)
    assert not at.session_state["adapter_results"]  # nothing half-trained is kept


def test_the_playground_uses_the_adapter_picked_and_its_best_epoch():
    at = make_app("adapters")
    prepare(at)
    for arch, epochs in (("ridge", 1), ("mlp", 4)):
        at.radio(key="adapter_arch").set_value(arch)
        at.number_input(key="adapter_epochs").set_value(epochs)
        at.button(key="FormSubmitter:adapter_form-Train").click().run()
        no_errors(at)
    results = at.session_state["adapter_results"]
    assert at.selectbox(key="adapter_pick").value == 1  # the newest first
    mlp = results[1]["records"]
    best = max(mlp, key=lambda r: r["heldout_cosine"])
    assert any(f"best epoch {best['epoch']} of 4" in m.value for m in at.markdown)
    assert at.metric[0].value == f"{best['heldout_cosine']:.3f}"  # the kept epoch's score, not the last one's
    at.selectbox(key="adapter_pick").set_value(0).run()
    no_errors(at)
    picked = [m.value for m in at.markdown if ", p = " in m.value and "the teacher embedded" in m.value]
    assert len(picked) == 1 and picked[0].startswith(f"**{ARCH_LABELS['ridge']}**"), picked  # the ridge, not the MLP
