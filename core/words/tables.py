"""The students of the paper: lookup tables that map a word's index to a unit vector.

- Model A: nn.Embedding -> ReLU -> L2 normalization (the paper's crude baseline; the ReLU
  keeps every component >= 0, so it can never point where a teacher's negative components do).
- Model B: nn.Embedding -> [ReLU -> Linear(d -> d/2)] -> [ReLU -> Linear(d/2 -> d)] -> L2 norm.

d is the teacher's dimension. A table student is its table plus a head, declared ONCE as a list of standard
layers (`head_layers`); the forward pass runs them and unit-normalizes. Nothing else restates the maths: the
reference training loop runs `forward` under autograd, and the fast CPU path (`core.kernels.fast`) reads the
same list and runs the layers it knows (ReLU, Linear) by hand. A head with any other layer trains on the
reference path.

Stored runs keep the attribute names as state-dict keys ("embedding.weight", "down.weight", "down.bias",
"up.weight", "up.bias"), so run folders written before keep loading.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from core.words.base import Student


def init_linear(layer: nn.Linear, generator: torch.Generator) -> None:
    """nn.Linear's own default initialization, drawn from an explicit generator so that concurrent runs
    (a classroom host) do not race on torch's global seed."""
    nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
    if layer.bias is not None:
        bound = 1 / math.sqrt(layer.in_features)
        nn.init.uniform_(layer.bias, -bound, bound, generator=generator)


class TableStudent(Student):
    """A free vector per item (`embedding`), then the head's layers, then unit norm.

    Subclasses add their layers as attributes in `__init__` and list them, in order, in `head_layers()`.
    """

    reads = "table"

    def __init__(self, config):
        super().__init__()
        self.config = config
        # The table's values are left unset: `build_student` draws them (from its seeded generator) and
        # `load_student` reads them, so nn.Embedding's own N(0, 1) draw would be thrown away (half of a
        # 10k-word student's build time).
        self.embedding = nn.Embedding(config.vocab_size, config.dim, _weight=torch.empty(config.vocab_size, config.dim))
        self.relu = nn.ReLU()

    def head_layers(self) -> list[nn.Module]:
        """Everything between the table lookup and the unit norm, in order."""
        return [self.relu]

    def reset_parameters(self, generator: torch.Generator) -> None:
        nn.init.normal_(self.embedding.weight, generator=generator)  # nn.Embedding's default N(0, 1)
        for layer in self.head_layers():
            if isinstance(layer, nn.Linear):
                init_linear(layer, generator)

    def head(self, rows: torch.Tensor) -> torch.Tensor:
        """Everything after the table lookup, applied to table rows."""
        for layer in self.head_layers():
            rows = layer(rows)
        return F.normalize(rows, dim=-1)

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        return self.head(self.embedding(index))

    @torch.no_grad()
    def predict_all(self) -> torch.Tensor:
        was = self.training
        self.eval()
        table = self.embedding.weight
        chunks = [self.head(table[s : s + 65536]) for s in range(0, len(table), 65536)]
        self.train(was)
        return chunks[0] if len(chunks) == 1 else torch.cat(chunks)


class ModelA(TableStudent):
    """table -> ReLU -> unit norm."""


class ModelB(TableStudent):
    """table -> ReLU -> Linear(d, d/2) -> ReLU -> Linear(d/2, d) -> unit norm."""

    def __init__(self, config):
        super().__init__(config)
        half = max(1, config.dim // 2)
        self.down = nn.Linear(config.dim, half)
        self.up = nn.Linear(half, config.dim)

    def head_layers(self) -> list[nn.Module]:
        return [self.relu, self.down, self.relu, self.up]
