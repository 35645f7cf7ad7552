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
        ("[host]\nexecutor = 'spark'\n", {}, "executor must be 'local' or 'ray'"),
        ("[host]\nexecutor = 3\n", {}, "executor .* must be text"),
        ("", {"EMBEDDING_LAB_EXECUTOR": "threads"}, "executor must be 'local' or 'ray'"),
        ("[host]\nray_address = 'my cluster'\n", {}, "ray_address must be .* HOST:PORT"),
        ("", {"EMBEDDING_LAB_RAY_CPUS_PER_RUN": "0"}, "ray_cpus_per_run must be between"),
        ("", {"EMBEDDING_LAB_RAY_GPUS_PER_RUN": "-1"}, "ray_gpus_per_run must be between"),
    ],
)
def test_bad_settings_get_a_sentence(tmp_path, text, env, message):
    path = tmp_path / "lab.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_host_settings(env=env, path=path)


def test_the_executor_setting(tmp_path, monkeypatch):
    """`executor` / `ray_address` (core.runs.executors): from the file, the environment on top; the board built for
    the host takes its executor from them."""
    import importlib.util

    from core.runs.executors import LocalExecutor, RayExecutor

    path = tmp_path / "lab.toml"
    path.write_text("[host]\nexecutor = 'local'\nray_address = '10.0.0.5:6379'\nray_cpus_per_run = 2\n")
    s = load_host_settings(env={}, path=path)
    assert (s.executor, s.ray_address, s.ray_cpus_per_run, s.ray_gpus_per_run) == ("local", "10.0.0.5:6379", 2.0, 0.0)
    assert isinstance(JobBoard.for_host(tmp_path, s).executor, LocalExecutor)
    for address in ("", "auto", "local", "head.example.org:6379", "ray://10.0.0.5:10001"):
        assert HostSettings(ray_address=address).ray_address == address

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real_find_spec(name, *a)
    )
    with pytest.raises(ValueError, match=r"Ray is not installed on this server: `pip install ray==2\.60\.0`"):
        load_host_settings(env={"EMBEDDING_LAB_EXECUTOR": "RAY"}, path=path)
    monkeypatch.undo()
    if real_find_spec("ray") is not None:
        s = load_host_settings(env={"EMBEDDING_LAB_EXECUTOR": "RAY", "EMBEDDING_LAB_RAY_ADDRESS": "auto"}, path=path)
        board = JobBoard.for_host(tmp_path, s)
        assert s.executor == "ray" and isinstance(board.executor, RayExecutor) and board.executor.address == "auto"
        assert board.executor.cpus_per_run == 2.0  # nothing is connected until a job needs it


def test_without_ray_the_ray_executor_is_a_sentence(monkeypatch, capsys):
    import importlib.util
    import sys

    from core.__main__ import main
    from core.runs.executors import RayUnavailable, make_executor

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real_find_spec(name, *a)
    )
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails, as where it is not installed
    with pytest.raises(RayUnavailable, match=r"needs Ray, which is not installed here: `pip install ray==2\.60\.0`"):
        make_executor("ray")
    assert main(["sweep", "--teacher", "hash-8", "--executor", "ray", "--epochs", "1"]) == 2
    assert "Ray is not installed" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["sweep", "--executor", "spark"])
    assert exit_.value.code == 2 and "invalid choice: 'spark'" in capsys.readouterr().err


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
