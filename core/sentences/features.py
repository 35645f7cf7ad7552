"""The cheap model's view of a list of texts, what the sentence adapters read: its token outputs with their mask and its
sentence embedding (`text_features`), kept on disk once per (model, texts) as float16 (`cached_text_features`,
`keep_text_features`: the warm-up fills it from the same forward pass as the vectors, `core.teachers.one_pass`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

MAX_TOKENS = 64


@dataclass
class TextFeatures:
    """The cheap model's view of every text: token outputs (n, L, d) with their mask (n, L), and its
    sentence embedding (n, d) = the normalized mean of the real tokens."""

    tokens: torch.Tensor
    mask: torch.Tensor
    pooled: torch.Tensor
    ids: torch.Tensor | None = None  # the tokenizer's ids (n, L), for fine-tuning; None for a model without one

    @property
    def dim(self) -> int:
        return int(self.pooled.shape[1])


def text_features(
    encoder,
    texts: Sequence[str],
    max_tokens: int = MAX_TOKENS,
    batch_size: int = 64,
    progress: Callable[[int, int], None] | None = None,
) -> TextFeatures:
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
    id_chunks: list[torch.Tensor] = []
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            batch = texts[start : start + batch_size]
            if hf is not None:
                device = next(hf.parameters()).device
                enc = tokenizer(batch, padding=True, truncation=True, max_length=max_tokens, return_tensors="pt").to(
                    device
                )
                out = hf(**enc).last_hidden_state.float().cpu()
                mask = enc["attention_mask"].bool().cpu()
                id_chunks.append(enc["input_ids"].cpu())
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
    pad = getattr(tokenizer, "pad_token_id", 0) or 0
    ids = torch.cat([F.pad(i, (0, length - i.shape[1]), value=pad) for i in id_chunks]) if id_chunks else None
    return TextFeatures(tokens, mask, pooled, ids)


def text_features_path(cache_root, encoder_id: str, texts: Sequence[str], max_tokens: int = MAX_TOKENS):
    """Where `cached_text_features` keeps one model's token outputs of one list of texts."""
    import hashlib
    from pathlib import Path

    digest = hashlib.sha1("\n".join(texts).encode("utf-8")).hexdigest()[:12]
    return Path(cache_root) / "text_features" / f"{encoder_id}-{len(texts)}-{digest}-{max_tokens}.npz"


def _unpack_features(data) -> TextFeatures:
    lengths = torch.as_tensor(data["lengths"].astype(np.int64))
    n, length = len(lengths), int(lengths.max()) if len(lengths) else 0
    mask = torch.arange(length).unsqueeze(0) < lengths.unsqueeze(1)
    flat = torch.as_tensor(data["tokens"].astype(np.float32))
    tokens = torch.zeros(n, length, flat.shape[1])
    tokens[mask] = flat
    pooled = F.normalize((tokens * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp_min(1), dim=-1)
    ids = None
    if data["ids"].size:
        ids = torch.full((n, length), int(data["pad"]), dtype=torch.long)
        ids[mask] = torch.as_tensor(data["ids"].astype(np.int64))
    return TextFeatures(tokens, mask, pooled, ids)


def cached_text_features(
    encoder,
    encoder_id: str,
    texts: Sequence[str],
    cache_root,
    max_tokens: int = MAX_TOKENS,
    progress: Callable[[int, int], None] | None = None,
) -> TextFeatures:
    """`text_features`, kept on disk (one .npz per model and list of texts): the bundled ~2,900 texts cost
    MiniLM about a minute the first time, then a second. Only real tokens are stored, as float16 (half the
    disk); the features are always read back from what was stored, so a first and a later visit train on
    exactly the same numbers. `encoder` may be a function returning the model, so a cache hit loads none."""
    texts = list(texts)
    path = text_features_path(cache_root, encoder_id, texts, max_tokens)
    try:
        with np.load(path, allow_pickle=False) as data:
            features = _unpack_features(data)
        if progress:
            progress(len(texts), len(texts))
        return features
    except (OSError, ValueError, KeyError):
        pass  # not computed yet (or a damaged file: computed again)
    model = encoder() if callable(encoder) and not hasattr(encoder, "embed") else encoder
    features = text_features(model, texts, max_tokens, progress=progress)
    lengths = features.mask.sum(1).numpy().astype(np.int32)
    pad = int(getattr(getattr(getattr(model, "model", None), "tokenizer", None), "pad_token_id", 0) or 0)
    packed = {
        "tokens": features.tokens[features.mask].numpy().astype(np.float16),
        "lengths": lengths,
        "pad": np.int64(pad),
        "ids": features.ids[features.mask].numpy().astype(np.int32)
        if features.ids is not None
        else np.zeros(0, np.int32),
    }
    return _write_features(path, packed)


def keep_text_features(path, tokens: Sequence[np.ndarray], ids: Sequence[np.ndarray] | None, pad: int) -> TextFeatures:
    """Keep token outputs computed elsewhere (one forward pass that also gave the sentence vectors:
    `core.teachers.one_pass.encode_views`) at `path` (`text_features_path`), exactly as `cached_text_features`
    keeps its own: `tokens` holds each text's real tokens (length, d), `ids` their token ids."""
    packed = {
        "tokens": np.concatenate([np.asarray(t, np.float32) for t in tokens]).astype(np.float16),
        "lengths": np.array([len(t) for t in tokens], np.int32),
        "pad": np.int64(pad),
        "ids": np.concatenate([np.asarray(i) for i in ids]).astype(np.int32) if ids else np.zeros(0, np.int32),
    }
    return _write_features(path, packed)


def _write_features(path, packed: dict) -> TextFeatures:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, **packed)
    os.replace(tmp, path)  # atomic: a reader sees the whole file or none
    return _unpack_features(packed)
