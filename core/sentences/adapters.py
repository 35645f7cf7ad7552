"""Sentence adapters: map a cheap encoder's view of a text into an expensive model's embedding space.

The proposal (seed 000): query the expensive teacher on a fraction p of the texts, then learn to translate
the cheap model's outputs into the teacher's space; test on the rest with cosine and Euclidean distance.
Every adapter's output is unit-normalized (the teachers' are), trained with the paper's cosine loss.

- `ridge`: the cheap model's sentence embedding (its mean-pooled, normalized output) -> closed-form ridge,
  alpha by exact leave-one-out (`core.words.generalizing.fit_ridge`).
- `mlp`: that ridge map plus a learnt correction (Linear -> GELU -> Dropout -> Linear, starting at zero).
- `attention`: the cheap model's *token* outputs -> a projection -> one self-attention layer (residual +
  layer norm) -> pooling -> a linear map to the teacher.
- `rnn`: the token outputs -> a bidirectional GRU -> pooling -> a linear map.
- `finetune`: the cheap encoder itself is trained towards the teacher — sentence-transformers' distillation
  recipe: its mean-pooled, normalized output -> a projection to the teacher's width, MSE to the teacher's
  vectors. The projection starts at the ridge map, so epoch 0 is the ridge adapter and fine-tuning has to
  improve on it. The lab's shared cheap model is copied, never changed.

Pooling (seed 003): `cls` takes the first position (the [CLS] token, whose output attends to — or, in the
bidirectional GRU, has read back from — the whole text); `mean` averages every real token (the
sentence-transformers default, robust); `max` takes each feature's largest value over the tokens (keeps
the strongest signals, sensitive to single words). The attention and RNN adapters start at the average
answer (their last layer's weights are zero, its bias the mean training target): epoch 0 is the
average-vector baseline every adapter must beat.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.data.dataset import split_indices
from core.device import pick_device
from core.sentences.features import (
    TextFeatures,
)
from core.words.generalizing import fit_ridge

ARCHS = ("ridge", "mlp", "attention", "rnn", "finetune")
POOLINGS = ("cls", "mean", "max")
ARCH_LABELS = {
    "ridge": "Ridge (linear, closed form)",
    "mlp": "MLP on the sentence embedding",
    "attention": "Self-attention over tokens",
    "rnn": "GRU over tokens",
    "finetune": "Fine-tune the cheap model (distillation)",
}
POOLING_HELP = {
    "cls": "CLS: the first token's output, which has looked at the whole text.",
    "mean": "Mean: the average of every token's output — the usual choice, steady.",
    "max": "Max: each number's largest value over the tokens — keeps the strongest signals, noisier.",
}


@dataclass(frozen=True)
class AdapterConfig:
    cheap: str = "minilm"
    teacher: str = "mpnet"
    arch: str = "mlp"
    pooling: str = "mean"  # attention / rnn only
    p: float = 0.1
    epochs: int = 20
    seed: int = 0
    lr: float = 1e-3
    batch_size: int = 64
    hidden: int = 256
    texts: str = "default"  # a label for the text collection
    encoder_lr: float = 2e-5  # finetune only: the cheap encoder's learning rate (lr is the projection's)

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {', '.join(ARCHS)}, got {self.arch!r}.")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}.")
        if (
            isinstance(self.p, bool)
            or not isinstance(self.p, (int, float))
            or not math.isfinite(self.p)
            or not 0 < self.p < 1
        ):
            raise ValueError(
                f"p (the share of texts the teacher embeds for training) must be between 0 and 1 (not 1: nothing would be held out), got {self.p!r}."
            )
        for name, low, high in (
            ("epochs", 1, 1000),
            ("seed", 0, 2**31 - 1),
            ("batch_size", 1, 65536),
            ("hidden", 8, 4096),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name} must be a whole number between {low} and {high}, got {value!r}.")
        for name in ("lr", "encoder_lr"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (
                isinstance(value, (int, float)) and math.isfinite(value) and 0 < value <= 1
            ):
                raise ValueError(f"{name} must be in (0, 1], got {value!r}.")
        if self.arch == "attention" and self.hidden % 4:
            raise ValueError(
                f"The attention adapter's width must be a multiple of 4 (its 4 heads share it), got {self.hidden}."
            )
        if self.arch == "rnn" and self.hidden % 2:
            raise ValueError(f"The GRU adapter's width must be even (two directions share it), got {self.hidden}.")
        if self.arch == "ridge":
            object.__setattr__(self, "epochs", 1)  # closed form

    @property
    def uses_tokens(self) -> bool:
        return self.arch in ("attention", "rnn")

    def to_dict(self) -> dict:
        return asdict(self)


def pool(states: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    if how == "cls":
        return states[:, 0]
    if how == "mean":
        m = mask.unsqueeze(-1).to(states.dtype)
        return (states * m).sum(1) / m.sum(1).clamp_min(1)
    if how == "max":
        return states.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(1)
    raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {how!r}.")


@torch.no_grad()
def _fit_ridge_into(linear: nn.Linear, pooled: torch.Tensor, targets: torch.Tensor) -> None:
    """Set a linear layer to the closed-form ridge map (alpha by exact leave-one-out) from inputs to targets."""
    weight, bias, _ = fit_ridge(pooled.cpu(), targets.cpu())
    linear.weight.copy_(weight)
    linear.bias.copy_(bias)


class RidgeSentenceAdapter(nn.Module):
    def __init__(self, d_in: int, d_out: int, config: AdapterConfig):
        super().__init__()
        self.linear = nn.Linear(d_in, d_out)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    @torch.no_grad()
    def fit_linear(self, pooled: torch.Tensor, targets: torch.Tensor) -> None:
        _fit_ridge_into(self.linear, pooled, targets)

    def forward(self, tokens, mask, pooled):
        return F.normalize(self.linear(pooled), dim=-1)


class MLPSentenceAdapter(RidgeSentenceAdapter):
    def __init__(self, d_in: int, d_out: int, config: AdapterConfig):
        super().__init__(d_in, d_out, config)
        self.inner = nn.Linear(d_in, config.hidden)
        self.outer = nn.Linear(config.hidden, d_out)
        self.dropout = nn.Dropout(0.5)
        nn.init.zeros_(self.outer.weight)  # the correction starts at zero: epoch 0 is the ridge map
        nn.init.zeros_(self.outer.bias)

    def forward(self, tokens, mask, pooled):
        return F.normalize(self.linear(pooled) + self.outer(self.dropout(F.gelu(self.inner(pooled)))), dim=-1)


class _TokenAdapter(nn.Module):
    def __init__(self, d_in: int, d_out: int, config: AdapterConfig):
        super().__init__()
        self.pooling = config.pooling
        self.out = nn.Linear(config.hidden, d_out)
        nn.init.zeros_(self.out.weight)  # with `start_at` below: epoch 0 answers the average vector

    @torch.no_grad()
    def start_at(self, mean_target: torch.Tensor) -> None:
        self.out.bias.copy_(mean_target)

    def encode(self, tokens, mask) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, tokens, mask, pooled):
        return F.normalize(self.out(pool(self.encode(tokens, mask), mask, self.pooling)), dim=-1)


class AttentionSentenceAdapter(_TokenAdapter):
    def __init__(self, d_in: int, d_out: int, config: AdapterConfig):
        super().__init__(d_in, d_out, config)
        self.project = nn.Linear(d_in, config.hidden)
        self.attention = nn.MultiheadAttention(config.hidden, num_heads=4, batch_first=True, dropout=0.1)
        self.norm = nn.LayerNorm(config.hidden)

    def encode(self, tokens, mask):
        x = self.project(tokens)
        attended, _ = self.attention(x, x, x, key_padding_mask=~mask, need_weights=False)
        return self.norm(x + attended)


class RNNSentenceAdapter(_TokenAdapter):
    def __init__(self, d_in: int, d_out: int, config: AdapterConfig):
        super().__init__(d_in, d_out, config)
        self.gru = nn.GRU(d_in, config.hidden // 2, batch_first=True, bidirectional=True)

    def encode(self, tokens, mask):
        lengths = mask.sum(1).clamp_min(1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(tokens, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.gru(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=tokens.shape[1])
        return out


class FineTunedEncoder(nn.Module):
    """A copy of the cheap encoder's transformer, trained: mean pooling -> normalize -> projection (the
    sentence-transformers distillation recipe). Reads token ids, not the cheap model's outputs."""

    reads_ids = True

    def __init__(self, transformer: nn.Module, d_in: int, d_out: int):
        super().__init__()
        self.encoder = copy.deepcopy(transformer)
        self.projection = nn.Linear(d_in, d_out)

    @torch.no_grad()
    def fit_linear(self, pooled: torch.Tensor, targets: torch.Tensor) -> None:
        _fit_ridge_into(self.projection, pooled, targets)  # epoch 0 is the ridge adapter

    def sentence(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The encoder's own sentence embedding (mean of the real tokens, unit length)."""
        length = max(1, int(mask.sum(1).max()))  # drop the padding every text of this batch has
        ids, mask = ids[:, :length], mask[:, :length]
        states = self.encoder(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        return F.normalize(pool(states, mask, "mean"), dim=-1)

    def raw(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.projection(self.sentence(ids, mask))

    def forward(self, ids, mask):
        return F.normalize(self.raw(ids, mask), dim=-1)


ADAPTERS = {
    "ridge": RidgeSentenceAdapter,
    "mlp": MLPSentenceAdapter,
    "attention": AttentionSentenceAdapter,
    "rnn": RNNSentenceAdapter,
}


def _transformer(encoder) -> nn.Module:
    """The Hugging Face transformer inside a loaded sentence-transformers teacher, or a sentence saying why not."""
    try:
        return encoder.model[0].auto_model
    except (TypeError, AttributeError, IndexError, KeyError):
        raise ValueError(
            "Fine-tuning needs a real transformer as the cheap model (the fake test model has none)."
        ) from None


def build_adapter(config: AdapterConfig, d_in: int, d_out: int, encoder=None) -> nn.Module:
    torch.manual_seed(config.seed)  # nn.MultiheadAttention / GRU draw their initial weights from torch's generator
    if config.arch == "finetune":
        if encoder is None:
            raise ValueError("Fine-tuning needs the cheap model itself, not only its outputs.")
        return FineTunedEncoder(_transformer(encoder), d_in, d_out)
    return ADAPTERS[config.arch](d_in, d_out, config)


class _Inputs:
    """Every text's inputs on one device; `model(rows)` runs any adapter on those rows."""

    def __init__(self, features: TextFeatures, device, rows: slice | None = None):
        rows = rows if rows is not None else slice(None)
        self.tokens, self.mask, self.pooled = (
            t[rows].to(device) for t in (features.tokens, features.mask, features.pooled)
        )
        self.ids = features.ids[rows].to(device) if features.ids is not None else None
        self.n = int(self.pooled.shape[0])

    def run(self, model: nn.Module, rows) -> torch.Tensor:
        if getattr(model, "reads_ids", False):
            if self.ids is None:
                raise ValueError("These texts were read by a model without a tokenizer: nothing to fine-tune on.")
            return model(self.ids[rows], self.mask[rows])
        return model(self.tokens[rows], self.mask[rows], self.pooled[rows])

    def run_all(self, model: nn.Module, chunk: int = 256) -> torch.Tensor:
        return torch.cat([self.run(model, slice(s, s + chunk)) for s in range(0, self.n, chunk)])


@dataclass(frozen=True)
class AdapterEpoch:
    epoch: int
    train_loss: float
    heldout_cosine: float
    heldout_euclidean: float
    seconds: float


def train_adapter(
    config: AdapterConfig,
    features: TextFeatures,
    teacher: np.ndarray,
    device: str | None = None,
    should_stop: Callable[[], bool] | None = None,
    encoder=None,
) -> Iterator[tuple[nn.Module, AdapterEpoch]]:
    """Split the texts (a seeded share p for training), build and train the adapter; yields (model, record)
    after every epoch. Held-out texts are only ever scored. After the last epoch (or a stop) the model holds
    the weights of its best held-out epoch (`best_epoch(records)`), not necessarily the last one's. `encoder` (the cheap model) is needed to fine-tune."""
    device = device or pick_device()
    targets = torch.as_tensor(np.asarray(teacher, dtype=np.float32), device=device)
    n = targets.shape[0]
    if features.pooled.shape[0] != n:
        raise ValueError(f"{features.pooled.shape[0]} cheap vectors for {n} teacher vectors.")
    train_np, held_np = split_indices(n, config.p, config.seed)
    if len(train_np) < 2 or not len(held_np):
        raise ValueError(f"p = {config.p:g} of {n} texts leaves too few to train on or to test on.")
    if config.arch == "finetune" and features.ids is None:
        raise ValueError("Fine-tuning needs a real transformer as the cheap model (the fake test model has none).")
    train_idx, held_idx = torch.as_tensor(train_np, device=device), torch.as_tensor(held_np, device=device)
    inputs = _Inputs(features, device)
    # held-out texts scored shortest first: batches of similar length waste little on padding
    held_sorted = held_idx[torch.argsort(inputs.mask[held_idx].sum(1), stable=True)]
    model = build_adapter(config, features.dim, targets.shape[1], encoder).to(device)
    finetune = config.arch == "finetune"

    def score(start: float, epoch: int, loss: float) -> AdapterEpoch:
        model.eval()
        with torch.no_grad():
            out = torch.cat([inputs.run(model, held_sorted[s : s + 128]) for s in range(0, len(held_sorted), 128)])
        cos = (out * targets[held_sorted]).sum(1)
        model.train()
        return AdapterEpoch(
            epoch, loss, float(cos.mean()), float((2 - 2 * cos).clamp_min(0).sqrt().mean()), time.perf_counter() - start
        )

    start = time.perf_counter()
    if hasattr(model, "fit_linear"):
        model.fit_linear(inputs.pooled[train_idx], targets[train_idx])
    if hasattr(model, "start_at"):
        model.start_at(targets[train_idx].mean(0))
    if config.arch == "ridge":
        with torch.no_grad():
            loss = float(1 - (model(None, None, inputs.pooled[train_idx]) * targets[train_idx]).sum(1).mean())
        yield model, score(start, 1, loss)
        return
    if finetune:  # the recipe's two speeds: the pretrained encoder moves slowly, the projection at lr
        groups = [
            {"params": list(model.encoder.parameters()), "lr": config.encoder_lr},
            {"params": list(model.projection.parameters()), "lr": config.lr},
        ]
        optimizer = torch.optim.AdamW(groups, weight_decay=0.01)
    else:
        params = [
            p for name, p in model.named_parameters() if not (config.arch == "mlp" and name.startswith("linear."))
        ]
        optimizer = torch.optim.Adam(params, lr=config.lr)
    shuffle = torch.Generator().manual_seed(config.seed + 7919)
    # The weights of the best held-out epoch are kept and put back at the end (also after a stop): a
    # later epoch that overfits must not replace a better adapter. The model yielded last is that one.
    best_cosine, best_state = -float("inf"), None
    for epoch in range(1, config.epochs + 1):
        order = train_idx[torch.randperm(len(train_idx), generator=shuffle).to(device)]
        total = 0.0
        for s in range(0, len(order), config.batch_size):
            if should_stop and should_stop():
                if best_state is not None:
                    model.load_state_dict(best_state)
                return
            b = order[s : s + config.batch_size]
            if finetune:
                raw = model.raw(inputs.ids[b], inputs.mask[b])
                loss = F.mse_loss(raw, targets[b])  # the recipe's loss; the cosine loss is what is reported
                reported = 1 - (F.normalize(raw.detach(), dim=-1) * targets[b]).sum(1).mean()
            else:
                loss = reported = 1 - (inputs.run(model, b) * targets[b]).sum(1).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(reported.detach()) * len(b)
        record = score(start, epoch, total / len(order))
        if record.heldout_cosine > best_cosine:
            best_cosine = record.heldout_cosine
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if epoch == config.epochs and best_state is not None:
            model.load_state_dict(best_state)  # before the last yield: whoever keeps the last model keeps the best
        yield model, record


def best_epoch(records) -> int:
    """The epoch whose held-out cosine is highest (the first of equals): the weights train_adapter keeps.
    Records are AdapterEpoch or their dicts: [{"epoch": 1, "heldout_cosine": 0.7}, {"epoch": 2, ...: 0.6}] -> 1."""
    rows = [r if isinstance(r, dict) else r.__dict__ for r in records]
    return max(rows, key=lambda r: (r["heldout_cosine"], -r["epoch"]))["epoch"]


@torch.no_grad()
def adapter_ms_per_1k(model: nn.Module, features: TextFeatures, sample: int = 512) -> float:
    """Milliseconds per 1,000 texts for the adapter alone (on the cheap model's outputs, already computed).
    A fine-tuned encoder replaces the cheap model (same size, same cost): its own part is the projection."""
    model.eval()
    n = min(sample, features.pooled.shape[0])
    device = next(model.parameters()).device
    inputs = _Inputs(features, device, slice(0, n))
    if getattr(model, "reads_ids", False):
        projection = model.projection

        def run(rows):
            return F.normalize(projection(inputs.pooled[rows]), dim=-1)
    else:

        def run(rows):
            return inputs.run(model, rows)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    run(slice(0, 8))  # warm-up
    sync()
    start = time.perf_counter()
    for s in range(0, n, 256):
        run(slice(s, s + 256))
    sync()
    return 1000 * (time.perf_counter() - start) / n * 1000


# --- using a trained adapter: every text's vector, search, paraphrase mining -------------------------


@torch.no_grad()
def embed_with(model: nn.Module, features: TextFeatures, chunk: int = 256) -> np.ndarray:
    """The adapter's vector of every text (unit rows), from the cheap model's features."""
    model.eval()
    return _Inputs(features, next(model.parameters()).device).run_all(model, chunk).cpu().numpy()


def search(query: np.ndarray, vectors: np.ndarray, k: int = 5) -> list[tuple[int, float]]:
    """The k rows most similar (cosine) to a unit query vector, best first."""
    scores = vectors @ np.asarray(query, dtype=np.float32).reshape(-1)
    top = np.argsort(-scores)[:k]
    return [(int(i), float(scores[i])) for i in top]


def mine_pairs(vectors: np.ndarray, k: int = 10) -> list[tuple[int, int, float]]:
    """The k most similar pairs of distinct rows (paraphrase mining), best first."""
    sims = vectors @ vectors.T
    iu = np.triu_indices(len(vectors), k=1)
    flat = sims[iu]
    top = np.argsort(-flat)[:k]
    return [(int(iu[0][t]), int(iu[1][t]), float(flat[t])) for t in top]


def overlap_at_k(a: list, b: list) -> float:
    """Share of the first list's items that are also in the second (equal lengths)."""
    return len(set(a) & set(b)) / max(1, len(a))
