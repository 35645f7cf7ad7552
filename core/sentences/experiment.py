"""One sentence-adapter experiment, as the Adapter lab page and `python -m core adapter` both run it: split the
texts (a seeded share p the teacher embeds for training), score the learn-nothing baseline on the rest, train
the adapter epoch by epoch, and keep the best held-out epoch's weights.

    experiment = AdapterExperiment(config, features, teacher_vectors)   # ValueError: too few texts for this p
    for record in experiment:                                          # one AdapterEpoch per epoch
        print(record.epoch, record.heldout_cosine)
    experiment.best, experiment.baseline_cosine, experiment.summary()
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from core.data.dataset import split_indices
from core.evaluation.evaluate import baseline_scores
from core.sentences.adapters import AdapterConfig, AdapterEpoch, best_epoch, train_adapter
from core.sentences.features import TextFeatures


def adapter_split(config: AdapterConfig, n_texts: int) -> tuple[np.ndarray, np.ndarray]:
    """The texts the teacher embeds for training and the held-out ones (core.data.dataset.split_indices);
    ValueError with a sentence when p leaves fewer than 2 to learn from or none to test on."""
    train_idx, heldout_idx = split_indices(n_texts, config.p, config.seed)
    if len(train_idx) < 2:
        raise ValueError(f"p = {config.p:g} of {n_texts:,} texts gives fewer than 2 to learn from: choose a larger p.")
    if not len(heldout_idx):
        raise ValueError(f"p = {config.p:g} of {n_texts:,} texts leaves none to test on: choose a smaller p.")
    return train_idx, heldout_idx


class AdapterExperiment:
    """Iterating trains (core.sentences.adapters.train_adapter) and yields each epoch's record; afterwards
    `model` holds the best held-out epoch's weights, the ones `best` describes."""

    def __init__(
        self,
        config: AdapterConfig,
        features: TextFeatures,
        teacher: np.ndarray,
        device: str | None = None,
        encoder=None,
        should_stop: Callable[[], bool] | None = None,
    ):
        self.config, self.features, self.device, self.encoder = config, features, device, encoder
        self.should_stop = should_stop
        self.teacher = np.asarray(teacher, dtype=np.float32)
        self.train_idx, self.heldout_idx = adapter_split(config, len(self.teacher))
        self.baseline_cosine, self.baseline_euclidean = baseline_scores(
            self.teacher, self.teacher, self.train_idx, self.heldout_idx
        )
        self.records: list[AdapterEpoch] = []
        self.model = None

    def __iter__(self) -> Iterator[AdapterEpoch]:
        for model, record in train_adapter(
            self.config,
            self.features,
            self.teacher,
            self.device,
            should_stop=self.should_stop,
            encoder=self.encoder,
        ):
            self.model = model
            self.records.append(record)
            yield record

    def run(self) -> AdapterExperiment:
        """Train to the end without looking at the epochs."""
        for _ in self:
            pass
        return self

    @property
    def best(self) -> AdapterEpoch | None:
        """The record of the epoch whose weights are kept (the highest held-out cosine); None before any epoch."""
        if not self.records:
            return None
        epoch = best_epoch(self.records)
        return next(r for r in self.records if r.epoch == epoch)

    def summary(self) -> dict:
        """The settings and the kept epoch's scores beside the baseline, for a report or a model card."""
        best = self.best
        return {
            **self.config.to_dict(),
            "texts_count": len(self.teacher),
            "train_texts": int(len(self.train_idx)),
            "heldout_texts": int(len(self.heldout_idx)),
            "best_epoch": None if best is None else best.epoch,
            "epochs_trained": len(self.records),
            "heldout_cosine": None if best is None else best.heldout_cosine,
            "heldout_euclidean": None if best is None else best.heldout_euclidean,
            "baseline_cosine": self.baseline_cosine,
            "baseline_euclidean": self.baseline_euclidean,
            "train_seconds": self.records[-1].seconds if self.records else 0.0,
        }
