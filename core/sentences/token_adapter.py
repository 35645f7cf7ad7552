"""A sentence-transformers module for the lab's token adapters (self-attention or GRU over a transformer's
token outputs, then CLS / mean / max pooling, then a linear map to the teacher's width).

This file is STANDALONE on purpose: `core.sentences.export` copies it verbatim into an exported model folder as
`modeling_lab_adapter.py`, where `SentenceTransformer(path, trust_remote_code=True)` imports it. It may
import only torch and sentence-transformers — nothing of the lab. Its layers carry the same names as
`core.sentences.adapters.AttentionSentenceAdapter` / `RNNSentenceAdapter`, so their weights load as they are, and the
export test checks that both give the same vectors.
"""

from __future__ import annotations

import torch
from sentence_transformers.base.modules.module import Module
from torch import nn


def _pool(states: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    if how == "cls":
        return states[:, 0]
    if how == "mean":
        m = mask.unsqueeze(-1).to(states.dtype)
        return (states * m).sum(1) / m.sum(1).clamp_min(1)
    return states.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(1)


class TokenAdapter(Module):
    """token_embeddings + attention_mask -> sentence_embedding (not normalized; a Normalize module follows)."""

    config_keys: list[str] = ["arch", "in_features", "out_features", "hidden", "pooling"]
    config_file_name: str = "token_adapter_config.json"

    def __init__(self, arch: str, in_features: int, out_features: int, hidden: int, pooling: str):
        super().__init__()
        if arch not in ("attention", "rnn") or pooling not in ("cls", "mean", "max"):
            raise ValueError(f"Unknown token adapter: arch {arch!r}, pooling {pooling!r}.")
        self.arch, self.in_features, self.out_features, self.hidden, self.pooling = (
            arch,
            in_features,
            out_features,
            hidden,
            pooling,
        )
        self.out = nn.Linear(hidden, out_features)
        if arch == "attention":
            self.project = nn.Linear(in_features, hidden)
            self.attention = nn.MultiheadAttention(hidden, num_heads=4, batch_first=True, dropout=0.1)
            self.norm = nn.LayerNorm(hidden)
        else:
            self.gru = nn.GRU(in_features, hidden // 2, batch_first=True, bidirectional=True)

    def encode_tokens(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.arch == "attention":
            x = self.project(tokens)
            attended, _ = self.attention(x, x, x, key_padding_mask=~mask, need_weights=False)
            return self.norm(x + attended)
        lengths = mask.sum(1).clamp_min(1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(tokens, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.gru(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=tokens.shape[1])
        return out

    def forward(self, features: dict, **kwargs) -> dict:
        tokens, mask = features["token_embeddings"], features["attention_mask"].bool()
        features["sentence_embedding"] = self.out(_pool(self.encode_tokens(tokens, mask), mask, self.pooling))
        return features

    def get_sentence_embedding_dimension(self) -> int:
        return self.out_features

    def get_embedding_dimension(self) -> int:
        return self.out_features

    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        self.save_config(output_path)
        self.save_torch_weights(output_path, safe_serialization=safe_serialization)

    @classmethod
    def load(
        cls,
        model_name_or_path: str,
        subfolder: str = "",
        token=None,
        cache_folder=None,
        revision=None,
        local_files_only: bool = False,
        **kwargs,
    ):
        hub = {
            "subfolder": subfolder,
            "token": token,
            "cache_folder": cache_folder,
            "revision": revision,
            "local_files_only": local_files_only,
        }
        config = cls.load_config(model_name_or_path=model_name_or_path, **hub)
        model = cls(**{k: config[k] for k in cls.config_keys})
        return cls.load_torch_weights(model_name_or_path=model_name_or_path, model=model, **hub)
