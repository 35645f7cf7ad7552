from __future__ import annotations

import pytest

from core.config import TrainConfig
from core.data.dataset import build_dataset
from core.teachers.teacher import HashTeacher
from core.words.students import StudentConfig, build_student
from core.words.train import train_student


@pytest.fixture(autouse=True)
def no_background_warm_up(monkeypatch):
    """The hostile AppTests run with no server warm-up in the test process, as tests/app's do. With one, each page
    test started the lab's whole warm-up (the real teachers' vectors, at the lowest CPU priority); beside two busy
    loops it never finished, and at the end of an all-green `make test` the interpreter exited with that thread inside
    native code: "terminate called without an active exception", exit 2 (2026-12-07, sixth session)."""
    monkeypatch.setenv("EMBEDDING_LAB_WARM", "off")


@pytest.fixture
def stored_run_parts():
    words = [f"w{i}" for i in range(60)]
    clean = HashTeacher(16).embed(words)
    config = TrainConfig(teacher="hash-16", p=0.5, epochs=3)
    dataset = build_dataset(words, clean, 0.5, 0.0, 0)
    model = build_student(StudentConfig(config.model, len(words), 16), seed=0)
    records = list(train_student(model, dataset, config, "cpu"))
    return config, dataset, records, model
