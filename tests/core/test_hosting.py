"""Hosted mode: settings from a file and the environment, owners, per-user and queue limits."""

from __future__ import annotations

import pytest

from core.jobs import JobBoard, QueueFull
from core.runs.hosting import HostSettings, load_host_settings, owner_id


def test_defaults_are_a_personal_machine(tmp_path):
    s = load_host_settings(env={}, path=tmp_path / "none.toml")
    assert s == HostSettings() and not s.hosted and s.max_trainings == 1


def test_file_then_environment(tmp_path):
    path = tmp_path / "lab.toml"
    path.write_text("[host]\nhosted = true\nmax_words = 5000\nmax_epochs = 50\nmax_upload_mb = 2.5\ngallery = false\n")
    s = load_host_settings(
        env={"EMBEDDING_LAB_MAX_EPOCHS": "30", "EMBEDDING_LAB_MAX_TRAININGS_PER_USER": "2"}, path=path
    )
    assert s.hosted and s.max_words == 5000 and s.max_epochs == 30 and s.max_trainings_per_user == 2 and not s.gallery
    assert s.max_upload_bytes == int(2.5 * 2**20)
    s = load_host_settings(env={"EMBEDDING_LAB_CONFIG": str(path), "EMBEDDING_LAB_HOSTED": "no"})
    assert not s.hosted and s.max_words == 5000


@pytest.mark.parametrize(
    "text,env,message",
    [
        ("[host]\nmax_epochs = 0\n", {}, "max_epochs must be between 1"),
        ("[host]\nmax_words = 'lots'\n", {}, "max_words .* must be a number"),
        ("[host]\nhosted = 'maybe'\n", {}, "hosted .* must be true or false"),
        ("[host]\nmax_trainings_per_person = 2\n", {}, "unknown host setting"),
        ("[host\nbroken", {}, "cannot be read"),
        ("", {"EMBEDDING_LAB_MAX_UPLOAD_MB": "-1"}, "max_upload_mb must be between"),
        ("", {"EMBEDDING_LAB_MAX_TRAININGS": "2.5"}, "EMBEDDING_LAB_MAX_TRAININGS"),
    ],
)
def test_bad_settings_get_a_sentence(tmp_path, text, env, message):
    path = tmp_path / "lab.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_host_settings(env=env, path=path)


def test_owners():
    assert owner_id("Ada@Example.org") == owner_id(" ada@example.org") and "@" not in owner_id("ada@example.org")
    assert owner_id(None, "abcdef1234").startswith("t-") and "abcdef1234" not in owner_id(
        None, "abcdef1234"
    )  # the token is the credential
    with pytest.raises(ValueError):
        owner_id(None, "../../x")


def _Job(owner):
    """A bare job: what every job on the board has (core.jobs.Job), nothing a page would add."""
    from core.jobs import Job

    return Job(owner=owner)


def test_per_user_and_queue_limits(tmp_path):
    import threading

    release = threading.Event()
    board = JobBoard(tmp_path, max_concurrent=1, max_per_owner=1, max_queue=2)
    from core.jobs import JobState

    ada = _Job("ada")
    ada.state = JobState.RUNNING  # holds the one trainer
    board.launch(ada, lambda job: release.wait(10), "t")
    with pytest.raises(QueueFull, match="already have 1 training"):
        board.launch(_Job("ada"), lambda job: None, "t")
    board.launch(_Job("bob"), lambda job: None, "t")
    board.launch(_Job("cy"), lambda job: None, "t")
    with pytest.raises(QueueFull, match="already waiting"):
        board.launch(_Job("dee"), lambda job: None, "t")
    release.set()
