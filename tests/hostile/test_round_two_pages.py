# ruff: noqa: F811 (the fixtures imported below are requested by name as the tests' parameters)
"""Issue 33, round two, the pages' side: a damaged run, or a classmate's, costs nobody a page.

- Finding 3: a classmate's private run whose `final.seconds` is NaN is listed with no time, and every estimate
  (the Sweep page's, a job's) skips it.
- Finding 4: a shared run whose run.json lacks `poisoned_in_train` (or holds text there) is damaged, never listed;
  one with NaN weights, dated in the future, is nobody else's default and opens as a sentence.
- Finding 5: run names (and every other text a person or an import chose) show as typed, never as Markdown.
- Finding 15, the pages' part: the store answers every kind of damage with DamagedData (a sentence naming the file),
  `?runs=` with more runs than the Distributions page shows is cut to what it shows, and the Runs page's zip is
  checked as the CLI's is (`check_exportable`) before it is offered.
- Done when: every page that lists or opens runs, opened on every kind of damaged run (and, hosted, beside a
  classmate's damaged shared run), shows a sentence and never an exception.

The store tests use round two's twenty-word run (tests/hostile/test_round_two.py); the page tests the AppTests' own
run of 305 words with 10 % poison (tests/app/conftest.py), both in the test's private lab home.
"""

from __future__ import annotations

import json
import shutil

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from core.errors import DamagedData
from core.evaluation.projection import Method
from core.jobs import duration, estimate_seconds
from core.paths import runs_dir, teacher_cache_dir
from core.runs.evaluated import run_vectors
from core.runs.hosting import owner_id
from core.runs.store import list_runs, load_run
from pages._plain import literal
from pages._shared import K
from tests.app.apphelpers import ROOT
from tests.app.conftest import fresh_streamlit_caches, prepared, stored_run, vocab  # noqa: F401 (the AppTests' fixtures)
from tests.hostile.test_import_hostile import _parquet
from tests.hostile.test_round_two import run_id, runs  # noqa: F401 (fixtures: round two's run and its store)

# ---- every kind of damage a run folder can come with ----------------------------------------------------------


def _truncate(name: str):
    def damage(folder):
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[: len(data) // 2])

    return damage


def _garbage(name: str, data: bytes = b"PAR1 this is not a table PAR1"):
    return lambda folder: (folder / name).write_bytes(data)


def _nan_weights(folder) -> None:
    from safetensors.torch import load_file, save_file

    tensors = load_file(folder / "student.safetensors")
    name = next(iter(tensors))
    tensors[name] = tensors[name].clone()
    tensors[name].view(-1)[0] = float("nan")
    save_file(tensors, folder / "student.safetensors")


def _nan_means(folder) -> None:
    means = pl.read_parquet(folder / "means.parquet")
    (folder / "means.parquet").write_bytes(_parquet(means.with_columns(pl.lit(float("nan"), pl.Float32).alias("mean"))))


def _no_epochs(folder) -> None:
    epochs = pl.read_parquet(folder / "epochs.parquet")
    (folder / "epochs.parquet").write_bytes(_parquet(epochs.clear()))


def _meta(**changes):
    def damage(folder):
        meta = json.loads((folder / "run.json").read_text())
        for key, value in changes.items():
            if value is _DROP:
                meta.pop(key, None)
            else:
                meta[key] = value
        (folder / "run.json").write_text(json.dumps(meta))

    return damage


_DROP = object()

# name -> (damage, the file its sentence names)
DAMAGES = {
    "truncated-epochs": (_truncate("epochs.parquet"), "epochs.parquet"),
    "garbage-epochs": (_garbage("epochs.parquet"), "epochs.parquet"),
    "zero-epoch-rows": (_no_epochs, "epochs.parquet"),
    "truncated-items": (_truncate("items.parquet"), "items.parquet"),
    "garbage-items": (_garbage("items.parquet"), "items.parquet"),
    "truncated-means": (_truncate("means.parquet"), "means.parquet"),
    "garbage-means": (_garbage("means.parquet"), "means.parquet"),
    "nan-means": (_nan_means, "means.parquet"),
    "garbage-student-json": (_garbage("student.json", b"{"), "student.json"),
    "deep-student-json": (_garbage("student.json", b"[" * 50_000 + b"]" * 50_000), "student.json"),
    "truncated-weights": (_truncate("student.safetensors"), "student.safetensors"),
    "nan-weights": (_nan_weights, "student.safetensors"),
    "no-poisoned-in-train": (_meta(poisoned_in_train=_DROP), "run.json"),
    "text-poisoned-in-train": (_meta(poisoned_in_train="many"), "run.json"),
}


def _open_fully(root, run_id: str) -> None:
    """Everything a page reads of a run: its tables, its means, its student and the vectors drawn from them."""
    stored = load_run(root, run_id)
    stored.means()
    run_vectors(stored, teacher_cache_dir())


@pytest.mark.parametrize("kind", list(DAMAGES))
def test_every_kind_of_damage_is_one_sentence_from_the_store(runs, run_id, kind):
    _open_fully(runs, run_id)  # the honest run opens
    damage, file = DAMAGES[kind]
    damage(runs / run_id)
    with pytest.raises(DamagedData) as caught:
        _open_fully(runs, run_id)
    message = str(caught.value)
    assert file in message and run_id in message and "\n" not in message and len(message) < 400, message


# ---- finding 3 -------------------------------------------------------------------------------------------------


def test_a_run_with_nan_seconds_is_listed_without_a_time_and_never_estimated_from(runs, run_id):
    _meta(final={**load_run(runs, run_id).meta["final"], "seconds": float("nan")})(runs / run_id)
    table = list_runs(runs)
    assert table["seconds"].to_list() == [None] and table["run_id"].to_list() == [run_id]  # still listed
    stored = load_run(runs, run_id)
    assert estimate_seconds(stored.config, 20, table) is None
    with_nan = table.with_columns(seconds=pl.lit(float("nan")))  # a table made some other way: skipped all the same
    assert estimate_seconds(stored.config, 20, with_nan) is None
    for seconds in (float("nan"), float("inf"), -1.0):
        assert duration(seconds) == "unknown"


def _page(page: str, params: dict | None = None, **state) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params.update(params or {})
    for key, value in {"proj_method": Method.PCA, **state}.items():  # PCA: no UMAP left computing after the test
        at.session_state[key] = value
    at.run()
    at.switch_page(f"pages/{page}.py").run()
    return at


ADA, BOB = "ada0token01", "bob0token02"


def _classmates_copy(stored_run: str, owner_token: str, **meta) -> str:
    """A copy of `stored_run` under a new id, owned by the person with this token, with `meta` in its run.json."""
    copy = f"{stored_run}-{owner_token[:3]}{len(list(runs_dir().iterdir()))}"
    shutil.copytree(runs_dir() / stored_run, runs_dir() / copy)
    _meta(run_id=copy, owner=owner_id(None, owner_token), **meta)(runs_dir() / copy)
    return copy


def test_a_classmates_private_run_with_nan_seconds_leaves_the_sweep_page_usable(
    monkeypatch, stored_run, prepared, vocab
):
    monkeypatch.setenv("EMBEDDING_LAB_HOSTED", "1")
    theirs = _classmates_copy(stored_run, BOB, shared=False)
    _meta(final={**load_run(runs_dir(), theirs).meta["final"], "seconds": float("nan")})(runs_dir() / theirs)
    shutil.rmtree(runs_dir() / stored_run)  # the classmate's run is the only one timed
    state = {K.PREPARED: prepared, K.VOCAB: vocab, K.TEACHER: "hash-32"}
    at = _page("sweep", {"u": ADA, "sweep_kind": "custom"}, **state)  # Model B, timed only by the classmate's run
    assert not at.exception, [e.value for e in at.exception]
    assert any("to train — no earlier run" in i.value for i in at.info), [i.value for i in at.info]


# ---- finding 4 -------------------------------------------------------------------------------------------------

FUTURE = "2099-01-01T00:00:00+0000"


@pytest.mark.parametrize("poisoned_in_train", [_DROP, "many", -1, 10**9])
def test_a_shared_run_with_no_usable_count_of_its_poison_is_damaged_not_listed(
    monkeypatch, stored_run, prepared, vocab, poisoned_in_train
):
    monkeypatch.setenv("EMBEDDING_LAB_HOSTED", "1")
    mine = _classmates_copy(stored_run, ADA)
    theirs = _classmates_copy(stored_run, BOB, shared=True, created=FUTURE)
    _meta(poisoned_in_train=poisoned_in_train)(runs_dir() / theirs)
    with pytest.raises(DamagedData, match="poisoned_in_train"):
        load_run(runs_dir(), theirs)
    assert theirs not in list_runs(runs_dir())["run_id"].to_list()
    at = _page("poisoning", {"u": ADA}, **{K.PREPARED: prepared, K.VOCAB: vocab, K.TEACHER: "hash-32"})
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key="poison_run").value == mine


def test_a_shared_run_with_nan_weights_is_no_classmates_default_and_opens_as_a_sentence(monkeypatch, stored_run):
    monkeypatch.setenv("EMBEDDING_LAB_HOSTED", "1")
    mine = _classmates_copy(stored_run, ADA)
    theirs = _classmates_copy(stored_run, BOB, shared=True, created=FUTURE)  # sorts first: newest of all
    _nan_weights(runs_dir() / theirs)
    at = _page("projection", {"u": ADA})
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    assert at.selectbox(key="run_select").value == mine  # her own run, not the classmate's newer one
    at.selectbox(key="run_select").set_value(theirs).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(_says(e.value, theirs, "student.safetensors", "not finite") for e in at.error), at.error
    at.selectbox(key="run_select").set_value(mine).run()  # her own run is still hers to look at
    assert not at.exception and not at.error


def test_a_person_with_no_run_of_their_own_opens_the_gallery(monkeypatch, stored_run):
    monkeypatch.setenv("EMBEDDING_LAB_HOSTED", "1")
    theirs = _classmates_copy(stored_run, BOB, shared=True)
    at = _page("projection", {"u": ADA})
    assert not at.exception and at.selectbox(key="run_select").value == theirs


def test_nan_vectors_have_no_map():
    import numpy as np

    from core.evaluation.projection import project

    x = np.ones((10, 4))
    x[3, 1] = np.nan
    for method in Method:
        with pytest.raises(DamagedData, match="not finite"):
            project(x, method)


# ---- finding 5 -------------------------------------------------------------------------------------------------

HOSTILE_NAME = "![x](http://host.example/r.png) **bold** [link](http://host.example) $x^2$ <b>b</b> :red[red]"
MARKDOWN_ELEMENTS = ("markdown", "caption", "title", "header", "subheader", "error", "warning", "info", "success")


def _rendered_as_markdown(at: AppTest) -> list[str]:
    """Every text the page hands to Streamlit's Markdown: bodies and the labels that render Markdown too."""
    texts = [e.value for name in MARKDOWN_ELEMENTS for e in getattr(at, name)]
    texts += [e.label for name in ("expander", "metric", "tabs") for e in at.get(name)]
    return texts


def test_a_classmates_run_name_shows_as_typed(monkeypatch, stored_run):
    monkeypatch.setenv("EMBEDDING_LAB_HOSTED", "1")
    theirs = _classmates_copy(stored_run, BOB, shared=True, name=HOSTILE_NAME)
    at = _page("runs", {"u": ADA, "runs": theirs})
    assert not at.exception, [e.value for e in at.exception]
    assert at.multiselect(key="runs_picked").value == [theirs]
    rendered = _rendered_as_markdown(at)
    assert any(literal(HOSTILE_NAME) in text for text in rendered), rendered  # shown, escaped
    for text in rendered:  # and never as Markdown: no image, link, bold, math or colour of its own
        for raw in ("![x](", "](http", "**bold**", "$x^2$", ":red["):
            assert raw not in text, (raw, text)


# ---- finding 15, the pages' part --------------------------------------------------------------------------------


def test_more_runs_in_the_address_than_the_page_shows_are_cut(stored_run):
    copies = [_classmates_copy(stored_run, ADA) for _ in range(6)]
    wanted = [stored_run, *copies]  # seven: the page shows at most six
    at = _page("distributions", {"runs": wanted + ["no-such-run"]})
    assert not at.exception, [e.value for e in at.exception]
    assert at.multiselect(key="dist_runs").value == wanted[:6]


def test_the_runs_page_offers_no_zip_another_lab_would_refuse(stored_run):
    _truncate("student.safetensors")(runs_dir() / stored_run)
    at = _page("runs", {"runs": stored_run})
    at.button(key="export_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("cannot be exported" in e.value for e in at.error), [e.value for e in at.error]
    assert not [b for b in at.get("download_button") if b.key == "run_zip_download"]


# ---- done when: every page, every kind of damage ----------------------------------------------------------------

# The pages that list or open runs, and the files of a run each one reads when it opens it.
TABLES = {"epochs.parquet", "items.parquet", "run.json"}
STUDENT = TABLES | {"student.json", "student.safetensors"}
PAGES_READ = {
    "runs": TABLES,
    "distributions": STUDENT | {"means.parquet"},
    "evaluate": STUDENT,
    "projection": STUDENT,
    "analogies": STUDENT,
    "poisoning": TABLES,
    "sweep": set(),
    "train": set(),
}


def _every_page(kind: str, params: dict, state: dict, damaged: str, opened: bool) -> None:
    """Open every page; none raises, and each page that opens the damaged run and reads its damaged file says so."""
    file = DAMAGES[kind][1]
    for page, reads in PAGES_READ.items():
        at = _page(page, params, **state)
        assert not at.exception, (page, [e.value for e in at.exception])
        sentences = [e.value for e in [*at.error, *at.warning]]
        listed = file != "run.json"  # a damaged run.json keeps the run out of every list
        if opened and listed and file in reads:
            assert any(_says(s, damaged, file, "damaged") for s in sentences), (page, sentences)
        if not opened or not listed:
            assert not [s for s in sentences if "damaged" in s], (page, sentences)


def _says(sentence: str, *texts: str) -> bool:
    """Whether a sentence on the page holds each of `texts`, as typed (the pages escape what a file says)."""
    return all(text in sentence or literal(text) in sentence for text in texts)


@pytest.mark.slow  # opens all eight pages that read runs: seconds each (make test; make test-fast skips it)
@pytest.mark.parametrize("kind", list(DAMAGES))
def test_every_page_opened_on_a_damaged_run_shows_a_sentence(kind, stored_run, prepared, vocab):
    DAMAGES[kind][0](runs_dir() / stored_run)
    state = {K.PREPARED: prepared, K.VOCAB: vocab, K.TEACHER: "hash-32", K.RUN: stored_run}
    _every_page(kind, {}, state, stored_run, opened=True)


@pytest.mark.slow  # opens all eight pages that read runs: seconds each (make test; make test-fast skips it)
@pytest.mark.parametrize("kind", list(DAMAGES))
def test_a_classmates_damaged_shared_run_harms_no_page(kind, monkeypatch, stored_run, prepared, vocab):
    monkeypatch.setenv("EMBEDDING_LAB_HOSTED", "1")
    mine = _classmates_copy(stored_run, ADA)
    theirs = _classmates_copy(stored_run, BOB, shared=True, created=FUTURE)
    shutil.rmtree(runs_dir() / stored_run)
    DAMAGES[kind][0](runs_dir() / theirs)
    state = {K.PREPARED: prepared, K.VOCAB: vocab, K.TEACHER: "hash-32"}
    _every_page(kind, {"u": ADA}, state, theirs, opened=False)
    assert mine in list_runs(runs_dir())["run_id"].to_list()


def test_the_damages_are_real(stored_run):
    """Each damage above changes the run's files (a damage that did nothing would make the matrix pass vacuously)."""
    for kind, (damage, file) in DAMAGES.items():
        folder = runs_dir() / f"copy-{kind}"
        shutil.copytree(runs_dir() / stored_run, folder)
        before = (folder / file).read_bytes()
        damage(folder)
        assert (folder / file).read_bytes() != before, kind


@pytest.mark.slow  # opens all eight pages that read runs: seconds each (make test; make test-fast skips it)
def test_every_page_opened_on_a_run_it_may_not_read_shows_a_sentence(stored_run, prepared, vocab, monkeypatch):
    """A student file this user may not read (another user's, mode 000) is StorageUnavailable, no DamagedData and no
    ValueError: every page that opens it still shows the store's sentence (no permission, nothing damaged)."""
    import builtins

    real_open = builtins.open

    def closed(path, *args, **kwargs):
        if str(path).endswith("student.json"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("core.runs.checks.open", closed, raising=False)
    state = {K.PREPARED: prepared, K.VOCAB: vocab, K.TEACHER: "hash-32", K.RUN: stored_run}
    for page, reads in PAGES_READ.items():
        at = _page(page, {}, **state)
        assert not at.exception, (page, [e.value for e in at.exception])
        if "student.json" in reads:
            sentences = [e.value for e in [*at.error, *at.warning]]
            assert any(_says(s, "no permission", "nothing is damaged") for s in sentences), (page, sentences)
