"""Adding a student is one file and one registry line: a toy student defined here (its whole file), registered
with one line, is built, trained through the reference loop on the CPU, saved and reloaded like the others."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.config import TrainConfig
from core.data.dataset import build_dataset
from core.kernels import fast
from core.words import registry
from core.words.base import Student
from core.words.students import StudentConfig, build_student, load_student, save_student
from core.words.train import train_student


class CharacterBag(Student):
    """A toy that generalizes: the mean of a learnt vector per character of the word, a Linear, unit norm."""

    reads = "texts"

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.chars = nn.EmbeddingBag(128, 24, mode="mean")
        self.linear = nn.Linear(24, config.dim)
        self.register_buffer("codes", torch.zeros(config.vocab_size, 1, dtype=torch.long), persistent=False)

    def set_inputs(self, items, features=None):
        width = max(len(w) for w in items)
        codes = [[min(ord(c), 127) for c in w] + [ord(w[-1])] * (width - len(w)) for w in items]
        self.codes = torch.tensor(codes, dtype=torch.long, device=self.linear.weight.device)

    def reset_parameters(self, generator):
        nn.init.normal_(self.chars.weight, std=0.5, generator=generator)
        nn.init.normal_(self.linear.weight, std=0.2, generator=generator)
        nn.init.zeros_(self.linear.bias)

    def forward(self, index):
        return F.normalize(self.linear(self.chars(self.codes[index])), dim=-1)


def test_a_registered_toy_student_trains_through_the_reference_loop(monkeypatch, tmp_path):
    monkeypatch.setitem(registry.STUDENTS, "charbag", CharacterBag)  # the registry line

    # A teacher made of the words' first letters: a word's vector is its letter's, plus noise.
    rng = np.random.default_rng(0)
    letters = {c: rng.normal(size=16) for c in "abcdef"}
    items = [c + "".join(rng.choice(list("xyz"), 3)) + str(i) for i, c in enumerate("abcdef" * 40)]
    teacher = np.stack([letters[w[0]] + 0.3 * rng.normal(size=16) for w in items])
    teacher = (teacher / np.linalg.norm(teacher, axis=1, keepdims=True)).astype(np.float32)

    config = TrainConfig(teacher="hash-16", p=0.5, epochs=15, batch_size=32, lr=0.02)
    dataset = build_dataset(items, teacher, config.p, 0.0, config.seed)
    model = build_student(StudentConfig("charbag", len(items), 16), seed=0, items=items)
    assert isinstance(model, CharacterBag) and model.generalizes and not fast.applies(model, "cpu")
    records = list(train_student(model, dataset, config, "cpu"))

    assert [r.epoch for r in records] == list(range(1, 16))
    assert records[-1].train_loss < records[0].train_loss - 0.1
    assert records[-1].heldout_cosine > records[0].heldout_cosine + 0.1  # it embeds words it never trained on
    assert records[-1].heldout_cosine > 0.6

    save_student(model, tmp_path)
    assert '"kind": "charbag"' in (tmp_path / "student.json").read_text()
    again = load_student(tmp_path, items=items)
    torch.testing.assert_close(again.predict_all(), model.predict_all())
