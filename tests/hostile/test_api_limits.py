"""The API teacher against a hostile or broken endpoint (issue 23, finding 5): one that accepts and never answers,
a person who cancels, an answer of 50 MB, and base URLs that point inside the network (cloud metadata, private and
link-local addresses, loopback).

Network rule for these tests: traffic goes to 127.0.0.1 only. The refused addresses are checked with
`socket.getaddrinfo` and every way of connecting replaced by a function that fails the test: the refusal must come
before any look-up or connection.
"""

from __future__ import annotations

import socket
import threading
import tracemalloc

import numpy as np
import pytest

from core.teachers.api import ApiSettings, ApiTeacher, load_api_teacher
from core.teachers.spend import SpendLedger
from core.teachers.teacher import CachedTeacher, HashTeacher, TeacherCancelled, TeacherUnavailable
from tests.fake_api import FakeEmbeddingServer


def sentence(message: str) -> None:
    assert message and "Traceback" not in message and "\n" not in message.strip(), message
    assert message.rstrip().endswith((".", ")", "!", "?")), message


@pytest.fixture()
def silent_server():
    """A TCP server on 127.0.0.1 that accepts every connection and never says a word."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1", held
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        listener.close()


def api(base_url: str, tmp_path, **kw) -> ApiTeacher:
    settings = ApiSettings(
        base_url, "fake-embed", key="sk-test", backoff_s=0.0, allow_private=kw.pop("allow_private", True), **kw
    )
    return ApiTeacher(settings, SpendLedger(tmp_path / "api-spend.json"))


# A request to the silent server waits this long unless the deadline or a cancel cuts it short: the tests below
# give the call far less (RETURNS_WITHIN), yet far more than the 2 s deadline or the 0.5 s cancel need, so a busy
# machine cannot fail them and a call that waits out its request still does.
NEVER_SECONDS = 3600.0
RETURNS_WITHIN = 120.0


def raised_within(seconds: float, call) -> BaseException | None:
    """Run `call()` in a thread; the exception it raised (None if none), failing the test if it is still running
    after `seconds`."""
    outcome: list = []

    def run() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as err:  # noqa: BLE001 - handed to the test
            outcome.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"still waiting after {seconds:.0f} s: the request was not cut short"
    return outcome[0]


def test_an_endpoint_that_never_answers_gets_a_sentence_at_the_deadline(silent_server, tmp_path):
    url, held = silent_server
    teacher = api(url, tmp_path, deadline_s=2.0, timeout_s=NEVER_SECONDS, max_retries=5)
    err = raised_within(RETURNS_WITHIN, lambda: teacher.embed(["a", "b"]))  # not 6 tries of an hour each
    assert isinstance(err, TeacherUnavailable), repr(err)
    sentence(str(err))
    assert "2 s" in str(err) and "EMBEDDING_LAB_API_DEADLINE" in str(err)
    assert held  # it did connect, and waited


def test_a_job_is_cancelled_even_mid_request(silent_server, tmp_path):
    url, _ = silent_server
    cached = CachedTeacher(api(url, tmp_path, deadline_s=NEVER_SECONDS, timeout_s=NEVER_SECONDS), tmp_path / "cache")
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    err = raised_within(RETURNS_WITHIN, lambda: cached.embed(["a", "b", "c"], cancel=cancel))
    assert isinstance(err, TeacherCancelled), repr(err)
    sentence(str(err))


def test_a_cancelled_job_asks_nothing_more(tmp_path):
    with FakeEmbeddingServer(dim=8) as server:
        asked = []
        teacher = api(server.base_url, tmp_path, batch_size=2)
        cached = CachedTeacher(teacher, tmp_path / "cache")
        cancel = lambda: len(server.seen) >= 1  # noqa: E731 (the callable form of `cancel`)
        with pytest.raises(TeacherCancelled):
            cached.embed([f"w{i}" for i in range(6)], progress=lambda d, t: asked.append(d), cancel=cancel)
        assert len(server.seen) == 1 and cached.missing(["w0", "w1"]) == []  # the answered batch is kept


def test_the_job_deadline_stops_between_batches(tmp_path):
    with FakeEmbeddingServer(dim=8) as server:
        teacher = api(server.base_url, tmp_path, batch_size=1, job_deadline_s=0.001)
        with pytest.raises(TeacherUnavailable, match="EMBEDDING_LAB_API_JOB_DEADLINE") as err:
            teacher.embed(["a", "b", "c"])
        sentence(str(err.value))
        assert len(server.seen) <= 1


@pytest.mark.parametrize("mode", ["huge", "huge-unsized"])
def test_a_50_mb_answer_is_refused_after_at_most_the_cap_and_not_asked_again(tmp_path, mode):
    with FakeEmbeddingServer(dim=8) as server:
        server.script = [mode]
        teacher = api(server.base_url, tmp_path, batch_size=10, max_retries=5)
        tracemalloc.start()
        try:
            with pytest.raises(TeacherUnavailable, match="larger than") as err:
                teacher.embed(["a", "b"])
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        sentence(str(err.value))
        assert len(server.seen) == 1  # refused at once, never asked again
        assert peak < 8_000_000, peak  # read at most the cap (2.2 MB for 2 texts), never the 50 MB


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/v1",
        "http://10.0.0.1/v1",
        "http://metadata.google.internal/v1",
        "http://[fe80::1]/v1",
        "http://192.168.1.10:8080/v1",
        "http://172.16.0.5/v1",
        "http://[fc00::1]/v1",
        "http://[::ffff:10.0.0.1]/v1",
        "http://localhost:8000/v1",
    ],
)
def test_inner_addresses_are_refused_without_any_connection(tmp_path, monkeypatch, url):
    def no_network(*args, **kwargs):
        raise AssertionError(f"a connection or look-up was attempted: {args}")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    with pytest.raises(
        TeacherUnavailable, match="EMBEDDING_LAB_API_ALLOW_PRIVATE"
    ) as err:  # at loading: the page says so at once
        load_api_teacher("api:m", cache_root=tmp_path, env={"EMBEDDING_LAB_API_BASE": url})
    sentence(str(err.value))
    teacher = api(url, tmp_path, allow_private=False)  # built directly: refused at the call, still before connecting
    with pytest.raises(TeacherUnavailable, match="EMBEDDING_LAB_API_ALLOW_PRIVATE"):
        teacher.embed(["a"])
    assert teacher.requests == 0


def test_a_public_name_that_resolves_inside_is_refused_before_connecting(tmp_path, monkeypatch):
    """DNS rebinding: the name looks public, its address is not. The addresses are checked after the look-up."""
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, port, *a, **k: [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.1", port)),
        ],
    )

    def no_connect(*args, **kwargs):
        raise AssertionError("connected")

    monkeypatch.setattr(socket, "create_connection", no_connect)
    monkeypatch.setattr(socket.socket, "connect", no_connect)
    teacher = api("https://api.example.test/v1", tmp_path, allow_private=False)
    with pytest.raises(TeacherUnavailable, match="10.0.0.1") as err:
        teacher.embed(["a"])
    sentence(str(err.value))


def test_loopback_needs_the_operators_switch(tmp_path):
    with FakeEmbeddingServer(dim=8) as server:
        with pytest.raises(TeacherUnavailable, match="loopback"):
            load_api_teacher("api:m", cache_root=tmp_path, env={"EMBEDDING_LAB_API_BASE": server.base_url})
        with pytest.raises(TeacherUnavailable, match="loopback"):
            api(server.base_url, tmp_path, allow_private=False).embed(["a"])
        assert server.seen == []
        allowed = load_api_teacher(
            "api:m",
            cache_root=tmp_path,
            env={"EMBEDDING_LAB_API_BASE": server.base_url, "EMBEDDING_LAB_API_ALLOW_PRIVATE": "1"},
        )
        np.testing.assert_allclose(allowed.embed(["a", "b"]), HashTeacher(8).embed(["a", "b"]), atol=1e-6)
        np.testing.assert_allclose(api(server.base_url, tmp_path).embed(["c"]), HashTeacher(8).embed(["c"]), atol=1e-6)


@pytest.mark.parametrize(
    "name,value",
    [
        ("EMBEDDING_LAB_API_DEADLINE", "soon"),
        ("EMBEDDING_LAB_API_DEADLINE", "-1"),
        ("EMBEDDING_LAB_API_MAX_ANSWER_MB", "0"),
        ("EMBEDDING_LAB_API_ALLOW_PRIVATE", "maybe"),
    ],
)
def test_limit_settings_are_checked(tmp_path, name, value):
    with pytest.raises(TeacherUnavailable) as err:
        load_api_teacher(
            "api:m", cache_root=tmp_path, env={"EMBEDDING_LAB_API_BASE": "https://api.example.test/v1", name: value}
        )
    sentence(str(err.value))
    assert name in str(err.value)
