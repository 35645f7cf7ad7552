"""What every student is: a torch module that maps item indices to unit vectors, and says how it learns.

A student class declares its traits as class attributes, which the training loop and the registry read (no
list of kinds anywhere else):

- `closed_form`: solved in one step by `fit(train_idx, targets, weights=None)` (ridge, kernel ridge), else
  trained by gradient steps on the paper's cosine loss;
- `reads`: what it computes a word's vector from — "table" (a free vector per item: the paper's lookup
  tables, which cannot embed a word they never trained on), "features" (a cheap encoder's vectors of every
  item, `set_inputs(items, features)`), or "texts" (the items' own characters, `set_inputs(items)`).

Every student has `forward(index)` (autograd on: unit vectors of those items, what the reference loop trains),
`predict_all()` (every item's unit vector, no autograd), `reset_parameters(generator)` (its seeded
initialization) and `prepare(train_idx, targets, defence, trim)` (anything done once before the first epoch:
a no-op here).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

PREDICT_CHUNK = 65536  # items per forward pass when every item's vector is computed


class Student(nn.Module):
    closed_form: bool = False
    reads: str = "table"  # "table" | "features" | "texts"

    @property
    def generalizes(self) -> bool:
        """Whether a word outside the training set gets a learnt vector (not its random start)."""
        return self.reads != "table"

    def set_inputs(self, items: Sequence[str], features: np.ndarray | None = None) -> None:
        """The inputs every item has (its text, the cheap encoder's vector); rebuilt at load, never stored."""

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Draw the initial weights from `generator` (the same seed, the same student)."""

    def prepare(self, train_idx: torch.Tensor, targets: torch.Tensor, defence: str = "none", trim: float = 0.0):
        """Done once before the first epoch (a starting point fitted in closed form, say)."""

    def predict(self, index: torch.Tensor) -> torch.Tensor:
        return self(index)

    @torch.no_grad()
    def predict_all(self) -> torch.Tensor:
        """Every item's unit vector, in item order (in eval mode: no dropout)."""
        was = self.training
        self.eval()
        n = self.config.vocab_size
        device = next(iter(self.state_dict().values())).device
        out = torch.cat(
            [self(torch.arange(s, min(s + PREDICT_CHUNK, n), device=device)) for s in range(0, n, PREDICT_CHUNK)]
        )
        self.train(was)
        return out
