"""Sentence adapters: map a cheap encoder's view of a text into an expensive model's embedding space.

The proposal (seed 000): query the expensive teacher on a fraction p of the texts, then learn to translate
the cheap model's outputs into the teacher's space; test on the rest with cosine and Euclidean distance.
Every adapter's output is unit-normalized (the teachers' are), trained with the paper's cosine loss.

- `ridge`: the cheap model's sentence embedding (its mean-pooled, normalized output) -> closed-form ridge,
  alpha by exact leave-one-out (`core.generalizing.fit_ridge`).
- `mlp`: that ridge map plus a learnt correction (Linear -> GELU -> Dropout -> Linear, starting at zero).
- `attention`: the cheap model's *token* outputs -> a projection -> one self-attention layer (residual +
  layer norm) -> pooling -> a linear map to the teacher.
- `rnn`: the token outputs -> a bidirectional GRU -> pooling -> a linear map.

Pooling (seed 003): `cls` takes the first position (the [CLS] token, whose output attends to — or, in the
bidirectional GRU, has read back from — the whole text); `mean` averages every real token (the
sentence-transformers default, robust); `max` takes each feature's largest value over the tokens (keeps
the strongest signals, sensitive to single words). The attention and RNN adapters start at the average
answer (their last layer's weights are zero, its bias the mean training target): epoch 0 is the
average-vector baseline every adapter must beat.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.dataset import split_indices
from core.device import pick_device

ARCHS = ("ridge", "mlp", "attention", "rnn")
POOLINGS = ("cls", "mean", "max")
ARCH_LABELS = {"ridge": "Ridge (linear, closed form)", "mlp": "MLP on the sentence embedding",
               "attention": "Self-attention over tokens", "rnn": "GRU over tokens"}
POOLING_HELP = {
    "cls": "CLS: the first token's output, which has looked at the whole text.",
    "mean": "Mean: the average of every token's output — the usual choice, steady.",
    "max": "Max: each number's largest value over the tokens — keeps the strongest signals, noisier.",
}
MAX_TOKENS = 64


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

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {', '.join(ARCHS)}, got {self.arch!r}.")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}.")
        if isinstance(self.p, bool) or not isinstance(self.p, (int, float)) or not math.isfinite(self.p) or not 0 < self.p < 1:
            raise ValueError(f"p (the share of texts the teacher embeds for training) must be between 0 and 1 (not 1: nothing would be held out), got {self.p!r}.")
        for name, low, high in (("epochs", 1, 1000), ("seed", 0, 2**31 - 1), ("batch_size", 1, 65536), ("hidden", 8, 4096)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name} must be a whole number between {low} and {high}, got {value!r}.")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and 0 < self.lr <= 1):
            raise ValueError(f"lr must be in (0, 1], got {self.lr!r}.")
        if self.arch == "attention" and self.hidden % 4:
            raise ValueError(f"The attention adapter's width must be a multiple of 4 (its 4 heads share it), got {self.hidden}.")
        if self.arch == "rnn" and self.hidden % 2:
            raise ValueError(f"The GRU adapter's width must be even (two directions share it), got {self.hidden}.")
        if self.arch == "ridge":
            object.__setattr__(self, "epochs", 1)  # closed form

    @property
    def uses_tokens(self) -> bool:
        return self.arch in ("attention", "rnn")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TextFeatures:
    """The cheap model's view of every text: token outputs (n, L, d) with their mask (n, L), and its
    sentence embedding (n, d) = the normalized mean of the real tokens."""

    tokens: torch.Tensor
    mask: torch.Tensor
    pooled: torch.Tensor

    @property
    def dim(self) -> int:
        return int(self.pooled.shape[1])


def text_features(encoder, texts: Sequence[str], max_tokens: int = MAX_TOKENS, batch_size: int = 64,
                  progress: Callable[[int, int], None] | None = None) -> TextFeatures:
    """Token outputs of a sentence-transformers model (its last layer, before pooling), truncated at
    `max_tokens`. A model without a transformer inside (the fake teacher) embeds each word as a token,
    after a first 'CLS' token that is the embedding of the whole text."""
    texts = list(texts)
    model = getattr(encoder, "model", None)
    try:
        hf, tokenizer = model[0].auto_model, model.tokenizer
    except (TypeError, AttributeError, IndexError, KeyError):
        hf = tokenizer = None
    chunks: list[tuple[torch.Tensor, torch.Tensor]] = []
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            batch = texts[start : start + batch_size]
            if hf is not None:
                device = next(hf.parameters()).device
                enc = tokenizer(batch, padding=True, truncation=True, max_length=max_tokens, return_tensors="pt").to(device)
                out = hf(**enc).last_hidden_state.float().cpu()
                mask = enc["attention_mask"].bool().cpu()
            else:
                words = [["<cls>", *t.split()][:max_tokens] for t in batch]
                length = max(len(w) for w in words)
                vectors = torch.as_tensor(encoder.embed(sorted({w for ws in words for w in ws})))
                index = {w: i for i, w in enumerate(sorted({w for ws in words for w in ws}))}
                out = torch.zeros(len(batch), length, vectors.shape[1])
                mask = torch.zeros(len(batch), length, dtype=torch.bool)
                for i, ws in enumerate(words):
                    out[i, : len(ws)] = vectors[[index[w] for w in ws]]
                    mask[i, : len(ws)] = True
                out[:, 0] = torch.as_tensor(encoder.embed(batch))  # the 'CLS' token: the whole text
            chunks.append((out, mask))
            if progress:
                progress(min(start + batch_size, len(texts)), len(texts))
    length = max(o.shape[1] for o, _ in chunks)
    tokens = torch.cat([F.pad(o, (0, 0, 0, length - o.shape[1])) for o, _ in chunks])
    mask = torch.cat([F.pad(m, (0, length - m.shape[1])) for _, m in chunks])
    pooled = F.normalize((tokens * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp_min(1), dim=-1)
    return TextFeatures(tokens, mask, pooled)


def pool(states: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    if how == "cls":
        return states[:, 0]
    if how == "mean":
        m = mask.unsqueeze(-1).to(states.dtype)
        return (states * m).sum(1) / m.sum(1).clamp_min(1)
    if how == "max":
        return states.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(1)
    raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {how!r}.")


class RidgeSentenceAdapter(nn.Module):
    def __init__(self, d_in: int, d_out: int, config: AdapterConfig):
        super().__init__()
        self.linear = nn.Linear(d_in, d_out)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    @torch.no_grad()
    def fit_linear(self, pooled: torch.Tensor, targets: torch.Tensor) -> None:
        from core.generalizing import fit_ridge

        weight, bias, _ = fit_ridge(pooled.cpu(), targets.cpu())
        self.linear.weight.copy_(weight)
        self.linear.bias.copy_(bias)

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


ADAPTERS = {"ridge": RidgeSentenceAdapter, "mlp": MLPSentenceAdapter, "attention": AttentionSentenceAdapter, "rnn": RNNSentenceAdapter}


def build_adapter(config: AdapterConfig, d_in: int, d_out: int) -> nn.Module:
    torch.manual_seed(config.seed)  # nn.MultiheadAttention / GRU draw their initial weights from torch's generator
    return ADAPTERS[config.arch](d_in, d_out, config)


@dataclass(frozen=True)
class AdapterEpoch:
    epoch: int
    train_loss: float
    heldout_cosine: float
    heldout_euclidean: float
    seconds: float


def average_baseline(targets: torch.Tensor, train_idx: torch.Tensor, heldout_idx: torch.Tensor) -> tuple[float, float]:
    """Held-out cosine and Euclidean distance of the adapter that learns nothing: the unit mean answer."""
    mean = F.normalize(targets[train_idx].mean(0), dim=0)
    cos = targets[heldout_idx] @ mean
    return float(cos.mean()), float((2 - 2 * cos).clamp_min(0).sqrt().mean())


def train_adapter(config: AdapterConfig, features: TextFeatures, teacher: np.ndarray, device: str | None = None,
                  should_stop: Callable[[], bool] | None = None) -> Iterator[tuple[nn.Module, AdapterEpoch]]:
    """Split the texts (a seeded share p for training), build and train the adapter; yields (model, record)
    after every epoch. Held-out texts are only ever scored."""
    device = device or pick_device()
    targets = torch.as_tensor(np.asarray(teacher, dtype=np.float32), device=device)
    n = targets.shape[0]
    if features.pooled.shape[0] != n:
        raise ValueError(f"{features.pooled.shape[0]} cheap vectors for {n} teacher vectors.")
    train_np, held_np = split_indices(n, config.p, config.seed)
    if len(train_np) < 2 or not len(held_np):
        raise ValueError(f"p = {config.p:g} of {n} texts leaves too few to train on or to test on.")
    train_idx, held_idx = torch.as_tensor(train_np, device=device), torch.as_tensor(held_np, device=device)
    tokens, mask, pooled = features.tokens.to(device), features.mask.to(device), features.pooled.to(device)
    model = build_adapter(config, features.dim, targets.shape[1]).to(device)

    def score(start: float, epoch: int, loss: float) -> AdapterEpoch:
        model.eval()
        with torch.no_grad():
            out = torch.cat([model(tokens[s : s + 256], mask[s : s + 256], pooled[s : s + 256]) for s in range(0, n, 256)])
        cos = (out[held_idx] * targets[held_idx]).sum(1)
        model.train()
        return AdapterEpoch(epoch, loss, float(cos.mean()), float((2 - 2 * cos).clamp_min(0).sqrt().mean()), time.perf_counter() - start)

    start = time.perf_counter()
    if hasattr(model, "fit_linear"):
        model.fit_linear(pooled[train_idx], targets[train_idx])
    if hasattr(model, "start_at"):
        model.start_at(targets[train_idx].mean(0))
    if config.arch == "ridge":
        with torch.no_grad():
            loss = float(1 - (model(None, None, pooled[train_idx]) * targets[train_idx]).sum(1).mean())
        yield model, score(start, 1, loss)
        return
    params = [p for name, p in model.named_parameters() if not (config.arch == "mlp" and name.startswith("linear."))]
    optimizer = torch.optim.Adam(params, lr=config.lr)
    shuffle = torch.Generator().manual_seed(config.seed + 7919)
    for epoch in range(1, config.epochs + 1):
        if should_stop and should_stop():
            return
        order = train_idx[torch.randperm(len(train_idx), generator=shuffle).to(device)]
        total = 0.0
        for s in range(0, len(order), config.batch_size):
            b = order[s : s + config.batch_size]
            loss = 1 - (model(tokens[b], mask[b], pooled[b]) * targets[b]).sum(1).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(b)
        yield model, score(start, epoch, total / len(order))


@torch.no_grad()
def adapter_ms_per_1k(model: nn.Module, features: TextFeatures, sample: int = 512) -> float:
    """Milliseconds per 1,000 texts for the adapter alone (on the cheap model's outputs, already computed)."""
    model.eval()
    n = min(sample, features.pooled.shape[0])
    device = next(model.parameters()).device
    tokens, mask, pooled = features.tokens[:n].to(device), features.mask[:n].to(device), features.pooled[:n].to(device)
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    model(tokens[:8], mask[:8], pooled[:8])  # warm-up
    sync()
    start = time.perf_counter()
    for s in range(0, n, 256):
        model(tokens[s : s + 256], mask[s : s + 256], pooled[s : s + 256])
    sync()
    return 1000 * (time.perf_counter() - start) / n * 1000


# --- using a trained adapter: every text's vector, search, paraphrase mining -------------------------


@torch.no_grad()
def embed_with(model: nn.Module, features: TextFeatures, chunk: int = 256) -> np.ndarray:
    """The adapter's vector of every text (unit rows), from the cheap model's features."""
    model.eval()
    device = next(model.parameters()).device
    out = [model(features.tokens[s : s + chunk].to(device), features.mask[s : s + chunk].to(device), features.pooled[s : s + chunk].to(device))
           for s in range(0, features.pooled.shape[0], chunk)]
    return torch.cat(out).cpu().numpy()


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
