"""One forward pass per model and list of texts, for every view of them the lab keeps.

The lab keeps three views of a model's reading of a text, each in its own cache:
- its sentence vector (`SentenceTransformerTeacher.embed`: the teacher's answer),
- its layer features (`LayerFeatures`: the last six layers, mean-pooled, what the kernel adapter reads),
- its token outputs (`core.sentences.adapters.text_features`: what the Adapter lab's token adapters read).

Computed one by one they cost two or three forward passes of the same model over the same texts (MPNet's
vectors and layer features of the 10,002 default words: 192 s + 194 s on the 2-core box). A
sentence-transformers model whose pipeline is a transformer, mean pooling and normalization (MiniLM, MPNet and
most sentence-transformers models) gives all three from one pass with the hidden states on: its sentence
vector is the normalized mean of the last layer's token outputs, which is also the last block of the layer
features and the mean of the token outputs.

Truncation is the one difference between the three: layer features and token outputs cut a text at 64 tokens,
the sentence vector at the model's `max_seq_length` (256 for MiniLM, 384 for MPNet). A text longer than 64
tokens (no word is; a few long sentences are) gets a second pass for its sentence vector alone, through the
teacher's own `embed`. Any other model (the fake teacher, CLS pooling, an API) is read view by view, as before.

    views = encode_views(teacher, ["a cat", "a dog"], layers=True, tokens=True)
    views.sentence.shape, views.layers.shape, views.tokens[0].shape   # (2, 384) (2, 2304) (4, 384)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.teachers.base import Progress, Teacher
from core.teachers.teacher import LayerFeatures
from core.vectors import unit_rows

MAX_TOKENS = 64  # LayerFeatures' and text_features' truncation (core.sentences.adapters.MAX_TOKENS)


@dataclass
class Views:
    """What one pass read, in the order of the texts asked for; a view not asked for is None."""

    sentence: np.ndarray  # (n, d) unit rows: the model's sentence vectors
    layers: np.ndarray | None = None  # (n, k * d) unit rows: LayerFeatures
    tokens: list[np.ndarray] | None = None  # per text (length, d) float32: its real tokens' last-layer outputs
    ids: list[np.ndarray] | None = None  # per text (length,) int64: the tokenizer's ids of those tokens


def _mean_pooling_pipeline(teacher: Teacher):
    """(transformer, tokenizer, max_seq_length) when `teacher` is a sentence-transformers model whose sentence
    vector is the normalized mean of its last layer's token outputs; None for anything else."""
    model = getattr(teacher, "model", None)
    try:
        modules = list(model)  # a SentenceTransformer is a Sequential of its modules
        hf, tokenizer = modules[0].auto_model, model.tokenizer
        max_seq_length = int(model.max_seq_length)
    except (TypeError, AttributeError, IndexError, KeyError, ValueError):
        return None
    kinds = [type(m).__name__ for m in modules]
    if kinds[1:2] != ["Pooling"] or any(k != "Normalize" for k in kinds[2:]):
        return None  # a dense layer or another head after the pooling: not the mean of the token outputs
    pooling = modules[1]
    mode = getattr(pooling, "pooling_mode", None)  # sentence-transformers 6: 'mean'; older ones: one bool per mode
    if mode is None and getattr(pooling, "pooling_mode_mean_tokens", False):
        others = ("cls_token", "max_tokens", "mean_sqrt_len_tokens", "weightedmean_tokens", "lasttoken")
        mode = "mean" if not any(getattr(pooling, f"pooling_mode_{o}", False) for o in others) else None
    if mode != "mean":
        return None
    if getattr(modules[0], "do_lower_case", False):
        return None  # the module lowercases before its tokenizer: read such a model view by view
    return hf, tokenizer, max_seq_length


def one_pass_supported(teacher: Teacher) -> bool:
    """Whether `encode_views` reads `teacher` in one pass (else view by view)."""
    return _mean_pooling_pipeline(teacher) is not None


def encode_views(
    teacher: Teacher,
    texts: Sequence[str],
    layers: bool = True,
    tokens: bool = False,
    layer_count: int = 6,
    max_tokens: int = MAX_TOKENS,
    batch_size: int = 64,
    progress: Progress | None = None,
) -> Views:
    """The sentence vectors of `texts`, and their layer features (`layers`) and token outputs (`tokens`), from one
    forward pass of the model where it can (see the module's docstring), else view by view. `progress(done, total)`
    counts texts. The token view needs a sentence-transformers model: for any other `tokens` must be False."""
    texts = list(texts)
    pipeline = _mean_pooling_pipeline(teacher)
    if pipeline is None:
        if tokens:
            raise ValueError(f"'{teacher.id}' has no token outputs to read in one pass; use text_features.")
        sentence = teacher.embed(texts, progress)
        return Views(sentence, LayerFeatures(teacher).embed(texts) if layers else None)
    return _one_pass(teacher, pipeline, texts, layers, tokens, layer_count, max_tokens, batch_size, progress)


def _one_pass(teacher, pipeline, texts, layers, tokens, layer_count, max_tokens, batch_size, progress) -> Views:
    import torch

    hf, tokenizer, max_seq_length = pipeline
    device = next(hf.parameters()).device
    n = len(texts)
    width = int(hf.config.hidden_size)
    k = min(layer_count, int(hf.config.num_hidden_layers))
    sentence = np.zeros((n, width), np.float32)
    layer_rows = np.zeros((n, k * width), np.float32) if layers else None
    token_rows: list[np.ndarray | None] = [None] * n
    id_rows: list[np.ndarray | None] = [None] * n
    if not n:
        return Views(sentence, layer_rows, [] if tokens else None, [] if tokens else None)
    # Lengths first (a tokenizer call, no model): the batches go shortest to longest, as sentence-transformers
    # does, so little of each batch is padding; the texts cut at `max_tokens` are read again whole below.
    lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=max_seq_length)["input_ids"]]
    order = sorted(range(n), key=lambda i: lengths[i])
    longer = [i for i in order if lengths[i] > max_tokens]
    done = 0
    with torch.no_grad():
        for start in range(0, n, batch_size):
            rows = order[start : start + batch_size]
            batch = [texts[i] for i in rows]
            enc = tokenizer(batch, padding=True, truncation=True, max_length=max_tokens, return_tensors="pt").to(device)
            states = hf(**enc, output_hidden_states=True).hidden_states[-k:]
            mask = enc["attention_mask"].unsqueeze(-1).float()
            blocks = [torch.nn.functional.normalize((h * mask).sum(1) / mask.sum(1), dim=-1) for h in states]
            sentence[rows] = blocks[-1].cpu().numpy()  # the pooling and normalization of the sentence vector
            if layers:
                layer_rows[rows] = unit_rows(torch.cat(blocks, dim=1).cpu().numpy())
            if tokens:
                last = states[-1].float().cpu().numpy()
                real = enc["attention_mask"].bool().cpu().numpy()
                ids = enc["input_ids"].cpu().numpy()
                for j, i in enumerate(rows):
                    token_rows[i], id_rows[i] = last[j][real[j]], ids[j][real[j]].astype(np.int64)
            done += len(rows)
            if progress:
                progress(done, n)
    if longer:  # cut at max_tokens above: their sentence vectors read the whole text, as the teacher's own do
        sentence[longer] = teacher.embed([texts[i] for i in longer])
    return Views(unit_rows(sentence), layer_rows, token_rows if tokens else None, id_rows if tokens else None)
