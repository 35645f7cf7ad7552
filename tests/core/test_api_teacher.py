"""The API teacher against the project's own OpenAI-compatible server on 127.0.0.1 (tests/fake_api.py),
including its failure modes; the key never reaches the disk; the spending cap holds before any call."""

from __future__ import annotations

import numpy as np
import pytest

from core.teachers.api import ApiSettings, ApiTeacher, load_api_teacher
from core.teachers.spend import BudgetExceeded, SpendLedger
from core.teachers.teacher import CachedTeacher, HashTeacher, TeacherUnavailable, load_teacher
from tests.fake_api import FakeEmbeddingServer

KEY = "sk-test-SECRET-do-not-write-1234"
TEXTS = [f"word{i}" for i in range(25)]


@pytest.fixture()
def server():
    with FakeEmbeddingServer(dim=24) as s:
        yield s


def teacher(server, tmp_path, **kw) -> ApiTeacher:
    settings = ApiSettings(
        server.base_url,
        "fake-embed",
        key=KEY,
        batch_size=kw.pop("batch_size", 10),
        backoff_s=0.0,
        allow_private=True,
        **kw,
    )  # the fake server is on 127.0.0.1
    return ApiTeacher(settings, SpendLedger(tmp_path / "api-spend.json"), sleep=lambda s: None)


def test_batches_order_and_vectors(server, tmp_path):
    t = teacher(server, tmp_path)
    out = t.embed(TEXTS)
    np.testing.assert_allclose(out, HashTeacher(24).embed(TEXTS), atol=1e-6)  # 'index' puts shuffled rows back in order
    assert len(server.seen) == 3 and t.dim == 24  # 25 texts in batches of 10
    assert server.seen[0]["headers"]["Authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize(
    "failures", [["429"], ["500", "500"], ["drop"], ["badjson"], ["short"], ["nan"], ["truncated"], ["dupindex"]]
)
def test_transient_failures_are_retried(server, tmp_path, failures):
    server.script = list(failures)
    out = teacher(server, tmp_path).embed(TEXTS[:5])
    np.testing.assert_allclose(out, HashTeacher(24).embed(TEXTS[:5]), atol=1e-6)
    assert len(server.seen) == len(failures) + 1


def test_retries_give_up_with_a_sentence_and_keep_what_was_answered(server, tmp_path):
    t = teacher(server, tmp_path, max_retries=2)
    cached = CachedTeacher(t, tmp_path / "cache")
    server.script = ["ok", "500", "500", "500"]  # the first batch of 10 succeeds, then the server breaks
    with pytest.raises(TeacherUnavailable, match="after 3 tries"):
        for start in range(0, 20, 10):
            cached.embed(TEXTS[start : start + 10])
    assert cached.missing(TEXTS[:10]) == []  # the paid-for answers are kept
    assert cached.missing(TEXTS[10:20]) == TEXTS[10:20]


@pytest.mark.parametrize("code,message", [("401", "refused the key"), ("400", "HTTP 400")])
def test_client_errors_stop_at_once(server, tmp_path, code, message):
    server.script = [code]
    with pytest.raises(TeacherUnavailable, match=message) as err:
        teacher(server, tmp_path).embed(TEXTS[:3])
    assert len(server.seen) == 1 and KEY not in str(err.value)


def test_a_changed_width_is_refused(server, tmp_path):
    t = teacher(server, tmp_path)
    t.embed(TEXTS[:2])
    server.script = ["wrongdim"]
    with pytest.raises(TeacherUnavailable, match="changed its vector width"):
        t.embed(TEXTS[2:4])


def test_the_budget_is_checked_before_anything_is_sent(server, tmp_path):
    t = teacher(server, tmp_path, price_per_million=1_000_000.0, budget_usd=5.0)  # $1 per token
    est = t.estimate(TEXTS)
    assert est["tokens"] == sum(-(-len(x) // 4) for x in TEXTS) and est["usd"] == pytest.approx(est["tokens"])
    with pytest.raises(BudgetExceeded, match="Nothing was sent"):
        t.embed(TEXTS)
    assert server.seen == []
    t.embed(["ab"])  # 1 token: $1, within the cap; the ledger remembers it across teachers
    again = teacher(server, tmp_path, price_per_million=1_000_000.0, budget_usd=5.0)
    assert again.estimate([])["spent_usd"] == pytest.approx(1.0)


def test_cached_teacher_refuses_the_whole_job_up_front(server, tmp_path):
    t = teacher(server, tmp_path, price_per_million=1_000_000.0, budget_usd=40.0)
    cached = CachedTeacher(t, tmp_path / "cache")
    before = len(server.seen)
    with pytest.raises(BudgetExceeded):
        cached.embed(TEXTS * 1 + [f"long text number {i}" for i in range(30)])
    assert len(server.seen) == before  # not half-way through: nothing at all
    cached.embed(TEXTS[:3])
    n = len(server.seen)
    cached.embed(TEXTS[:3])  # every answer is cached: asking again costs nothing
    assert len(server.seen) == n


def test_the_key_never_reaches_the_disk(server, tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDDING_LAB_API_BASE", server.base_url)
    monkeypatch.setenv("EMBEDDING_LAB_API_KEY", KEY)
    monkeypatch.setenv("EMBEDDING_LAB_HOME", str(tmp_path / "home"))
    t = load_teacher("api:fake-embed")
    assert KEY not in repr(t) and KEY not in repr(t.settings) and t.id.startswith("api-fake-embed-")
    cached = CachedTeacher(t, tmp_path / "home" / "cache" / "teachers")
    cached.embed(TEXTS)
    server.script = ["401"]
    with pytest.raises(TeacherUnavailable) as err:
        t.embed(["x"])
    assert KEY not in str(err.value)
    for path in (tmp_path / "home").rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_settings_are_checked():
    with pytest.raises(TeacherUnavailable, match="http"):
        ApiSettings("ftp://x", "m")
    with pytest.raises(TeacherUnavailable, match="No API is configured"):
        load_api_teacher("api:m", env={})
    with pytest.raises(TeacherUnavailable, match="must be a number"):
        load_api_teacher(
            "api:m", env={"EMBEDDING_LAB_API_BASE": "http://127.0.0.1:1/v1", "EMBEDDING_LAB_API_BUDGET": "lots"}
        )
    with pytest.raises(TeacherUnavailable, match="Name the API model"):
        load_api_teacher("api:", env={"EMBEDDING_LAB_API_BASE": "http://127.0.0.1:1/v1"})


def test_an_unreachable_api_gets_a_sentence(tmp_path):
    t = ApiTeacher(
        ApiSettings("http://127.0.0.1:9/v1", "m", max_retries=1, backoff_s=0.0, timeout_s=2, allow_private=True),
        sleep=lambda s: None,
    )
    with pytest.raises(TeacherUnavailable, match="connection failed"):
        t.embed(["a"])


def test_choosing_the_api_teacher_sends_nothing(server, tmp_path):
    cached = CachedTeacher(teacher(server, tmp_path), tmp_path / "cache")
    assert server.seen == [] and cached.dim is None  # the width is not worth a call: the first answer tells it
    assert cached.missing(TEXTS[:4]) == TEXTS[:4]
    cached.embed(TEXTS[:4])
    assert cached.dim == 24
    again = CachedTeacher(teacher(server, tmp_path), tmp_path / "cache")  # a restart: the width comes from the cache
    n = len(server.seen)
    assert again.dim == 24 and again.teacher.dim == 24 and len(server.seen) == n
    np.testing.assert_allclose(again.embed(TEXTS[:4]), HashTeacher(24).embed(TEXTS[:4]), atol=1e-6)


def test_a_redirect_never_receives_the_key(server, tmp_path):
    server.script = ["redirect"]
    with pytest.raises(TeacherUnavailable, match="redirect"):
        teacher(server, tmp_path).embed(TEXTS[:3])
    assert [r["path"] for r in server.seen] == ["/v1/embeddings"]  # nothing was repeated at the other address


def test_the_cap_is_for_the_whole_lab_home(server, tmp_path):
    a = teacher(server, tmp_path, price_per_million=1_000_000.0, budget_usd=5.0)
    a.embed(["ab", "cd", "ef", "gh"])  # $4
    other = ApiTeacher(
        ApiSettings(
            server.base_url,
            "another-model",
            key=KEY,
            price_per_million=1_000_000.0,
            budget_usd=5.0,
            backoff_s=0.0,
            allow_private=True,
        ),
        SpendLedger(tmp_path / "api-spend.json"),
        sleep=lambda s: None,
    )
    with pytest.raises(BudgetExceeded):  # a new model name is not a new budget
        other.embed(["ab", "cd"])


@pytest.mark.parametrize("content", ['{"api-x": -50}', '{"api-x": "lots"}', "[1, 2]"])
def test_a_tampered_spending_record_stops_calls(server, tmp_path, content):
    (tmp_path / "api-spend.json").write_text(content)
    with pytest.raises(BudgetExceeded, match="unreadable"):
        teacher(server, tmp_path).embed(["a"])
    assert server.seen == []


@pytest.mark.parametrize("url", ["http://127.0.0.1:abc/v1", "http://[::1", "https:///v1"])
def test_bad_base_urls_get_a_sentence(url):
    with pytest.raises(TeacherUnavailable, match="API base URL"):
        ApiSettings(url, "m")
