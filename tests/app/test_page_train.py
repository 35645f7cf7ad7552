from core.config import LemmaMode
from core.paths import runs_dir
from core.runs.store import list_runs, load_run
from pages._shared import K, job_board
from tests.app.apphelpers import make_app, no_errors, wait_for


def test_missing_prerequisite_says_what_to_do():
    at = make_app("train")
    no_errors(at)
    assert "compute the teacher's embeddings" in at.info[0].value


def test_train_live_and_store(prepared, vocab):
    at = make_app("train", prepared=prepared, vocabulary=vocab, teacher_name="hash-32")
    no_errors(at)
    at.number_input(key="epochs").set_value(4)
    at.slider(key="poison").set_value(0.1)
    at.button(key="train").click().run()
    no_errors(at)
    job = job_board().get(at.session_state[K.JOB])
    assert job.config.epochs == 4 and job.config.poison == 0.1
    assert wait_for(lambda: job.done, 60)
    at.run()
    no_errors(at)
    assert any("Training finished and saved as run" in s.value for s in at.success)
    assert at.session_state[K.RUN] == job.run_id
    assert list_runs(runs_dir())["run_id"].to_list() == [job.run_id]
    assert [m.label for m in at.metric][:2] == ["Training loss", "Cosine on training words"]


def test_custom_p_and_lemmatization_change(prepared, vocab):
    at = make_app("train", prepared=prepared, vocabulary=vocab, teacher_name="hash-32")
    at.select_slider(key="p_choice").set_value("custom").run()
    at.number_input(key="p_custom").set_value(0.5)
    at.number_input(key="epochs").set_value(2)
    at.radio(key="train_lemma").set_value(LemmaMode.LOOKUP)
    at.button(key="train").click().run()
    no_errors(at)
    job = job_board().get(at.session_state[K.JOB])
    assert job.config.p == 0.5 and job.config.lemmatize.value == "lookup"
    assert len(job.prepared.items) < len(prepared.items)
    assert wait_for(lambda: job.done, 60)


def test_trimmed_defence_reports_what_it_found(prepared, vocab):
    at = make_app("train", prepared=prepared, vocabulary=vocab, teacher_name="hash-32")
    at.radio(key="model").set_value("ridge")
    at.slider(key="poison").set_value(0.1)
    at.selectbox(key="adversary").set_value("negate")
    at.radio(key="poison_scope").set_value("train")
    at.selectbox(key="defence").set_value("trimmed")
    at.button(key="train").click().run()
    no_errors(at)
    job = job_board().get(at.session_state[K.JOB])
    assert (job.config.adversary, job.config.poison_scope, job.config.defence) == ("negate", "train", "trimmed")
    assert wait_for(lambda: job.done, 120)
    at.run()
    no_errors(at)
    assert any("look poisoned" in i.value and "trimmed loss defence left out" in i.value for i in at.info)


def test_every_student_takes_a_defence_with_a_share(prepared, vocab):
    at = make_app("train", prepared=prepared, vocabulary=vocab, teacher_name="hash-32")
    at.number_input(key="epochs").set_value(3)
    at.slider(key="poison").set_value(0.2)
    at.selectbox(key="defence").set_value("small-loss")
    at.number_input(key="trim").set_value(0.25)
    at.button(key="train").click().run()
    no_errors(at)
    job = job_board().get(at.session_state[K.JOB])
    assert job.config.model.value == "B" and job.config.defence == "small-loss" and job.config.trim == 0.25
    assert wait_for(lambda: job.done, 60)
    at.run()
    no_errors(at)
    assert any("look poisoned" in i.value for i in at.info)


def test_choosing_p_never_starts_a_training_and_shows_the_answers(prepared, vocab):
    at = make_app("train", prepared=prepared, vocabulary=vocab, teacher_name="hash-32")
    assert "p_custom" not in [n.key for n in at.number_input]  # one p control until 'custom' is chosen
    at.select_slider(key="p_choice").set_value("custom").run()
    at.number_input(key="p_custom").set_value(0.5).run()  # what Enter in the box does: a rerun, not a submit
    no_errors(at)
    assert job_board().get(at.session_state[K.JOB] if K.JOB in at.session_state else None) is None
    n = len(prepared.items)
    assert any(f"p = 0.5** ({round(0.5 * n):,} teacher answers of {n:,} words)" in m.value for m in at.markdown)


def test_cheap_model_note_and_epochs_follow_the_student(prepared, vocab):
    at = make_app("train", prepared=prepared, vocabulary=vocab, teacher_name="hash-32")
    assert not any("cheap model" in c.value for c in at.caption)  # Model B reads no cheap model
    assert "cheap" not in [s.key for s in at.selectbox]
    at.radio(key="model").set_value("mlp").run()
    cheap = at.selectbox(key="cheap")
    assert cheap.value == "hash-16" and "ms per 1,000 words" in cheap.format_func(cheap.value)
    assert any("The teacher costs" in c.value and "ms per 1,000 words" in c.value for c in at.caption)
    assert "epochs" in [n.key for n in at.number_input]
    at.radio(key="model").set_value("kernel").run()
    no_errors(at)
    assert "epochs" not in [n.key for n in at.number_input]
    assert any("solved in one step" in c.value for c in at.caption)


def test_the_selection_is_a_setting_of_the_run(prepared, vocab):
    at = make_app("train", prepared=prepared, vocabulary=vocab, teacher_name="hash-32")
    assert at.selectbox(key="selection").value == "random"
    at.selectbox(key="selection").set_value("kcenter").run()
    no_errors(at)
    assert any("never the teacher's answers" in c.value for c in at.caption)
    at.button(key="train").click().run()
    no_errors(at)
    job = job_board().get(at.session_state[K.JOB])
    assert job.config.selection == "kcenter"
    assert wait_for(lambda: job.done, 60)
    stored = load_run(runs_dir(), job.run_id)
    assert stored.config.selection == "kcenter"


def test_an_unreachable_ray_cluster_is_one_sentence(prepared, vocab, monkeypatch):
    """executor = "ray" at an address nothing answers: the page says so instead of a traceback."""
    monkeypatch.setenv("EMBEDDING_LAB_EXECUTOR", "ray")
    monkeypatch.setenv("EMBEDDING_LAB_RAY_ADDRESS", "127.0.0.1:9")
    at = make_app("train", prepared=prepared, vocabulary=vocab, teacher_name="hash-32")
    no_errors(at)  # the cluster is reached on first use
    at.number_input(key="epochs").set_value(1)
    at.button(key="train").click().run()
    job = job_board().get(at.session_state[K.JOB])
    assert wait_for(lambda: job.done, 60)
    at.run()
    assert not at.exception
    shown = " ".join(e.value for e in at.error)
    assert "cannot be reached" in shown and "ray start --head" in shown, shown
