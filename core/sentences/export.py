"""Take a sentence adapter away: a sentence-transformers model folder (the cheap encoder + the adapter as
modules) that `SentenceTransformer(path)` loads and runs offline, with no code of the lab and no
`trust_remote_code` — only sentence-transformers' own modules:

- ridge: cheap encoder (Transformer, mean Pooling, Normalize) -> Dense(d -> D, identity) -> Normalize;
- finetune: the fine-tuned encoder (Transformer, mean Pooling, Normalize) -> Dense(projection) -> Normalize;
- mlp: the ridge map plus its correction W2 gelu(W1 x + b1) + b2, as two Dense layers. The first computes
  gelu([W1 x + b1 ; x + c]) and the second [W2 | W] times that plus (b2 + b - W c): with x a unit vector and
  c = 64, gelu(x + c) = x + c exactly in float32 (Phi(63) rounds to 1), so the skip connection passes
  through the activation unchanged, up to float32 rounding of x + c (~4e-6 per number).

- attention / rnn (token adapters): sentence-transformers has no built-in module for them, so the folder carries
  one file of code, `modeling_lab_adapter.py` (a copy of `core/sentences/token_adapter.py`, torch + sentence-transformers
  only): cheap encoder (Transformer) -> TokenAdapter -> Normalize. Loading it runs that file, so
  sentence-transformers asks for `SentenceTransformer(path, trust_remote_code=True)` — read the file first.
The exported model truncates texts at the lab's 64 tokens, so it gives the vectors the lab measured.
A `lab_card.json` beside the modules records the settings and the held-out scores.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
from torch import nn

from core.sentences.adapters import AdapterConfig
from core.sentences.features import MAX_TOKENS

SKIP_SHIFT = 64.0


class ExportUnavailable(ValueError):
    pass


def _dense(weight: torch.Tensor, bias: torch.Tensor, activation: nn.Module):
    from sentence_transformers import models

    layer = models.Dense(weight.shape[1], weight.shape[0], bias=True, activation_function=activation)
    with torch.no_grad():
        layer.linear.weight.copy_(weight)
        layer.linear.bias.copy_(bias)
    return layer


def export_adapter(
    model: nn.Module, config: AdapterConfig, cheap_encoder, folder: Path, card: dict | None = None
) -> Path:
    """Write the cheap encoder + `model` as a sentence-transformers folder; returns the folder."""
    from sentence_transformers import SentenceTransformer, models

    st_model = getattr(cheap_encoder, "model", None)
    if not isinstance(st_model, SentenceTransformer):
        raise ExportUnavailable(
            "Only an adapter on a real sentence-transformers model (not the fake test model) can be exported."
        )
    modules = [m for m in st_model]
    if not any(isinstance(m, models.Pooling) for m in modules):
        raise ExportUnavailable("The cheap model has no pooling module to put the adapter after.")
    # The lab's view of the cheap model: mean-pooled token outputs, unit-normalized. Copies: the cheap model
    # is shared (cached for every session) and the adapter stays where it is; exporting changes neither.
    get_dim = getattr(st_model, "get_embedding_dimension", None) or st_model.get_sentence_embedding_dimension
    transformer, d_in = copy.deepcopy(modules[0]), int(get_dim())
    model = copy.deepcopy(model).cpu().eval()
    if config.arch == "finetune":
        transformer.model = model.encoder  # the trained copy, in place of the cheap model's weights
    base = [transformer, models.Pooling(d_in, pooling_mode="mean"), models.Normalize()]
    if config.uses_tokens:
        return _export_token_adapter(model, config, transformer, d_in, folder, card)
    linear = model.projection if config.arch == "finetune" else model.linear
    w, b = linear.weight.detach().float(), linear.bias.detach().float()
    if config.arch in ("ridge", "finetune"):
        head = [_dense(w, b, nn.Identity())]
    else:
        w1, b1 = model.inner.weight.detach().float(), model.inner.bias.detach().float()
        w2, b2 = model.outer.weight.detach().float(), model.outer.bias.detach().float()
        first = _dense(torch.cat([w1, torch.eye(d_in)]), torch.cat([b1, torch.full((d_in,), SKIP_SHIFT)]), nn.GELU())
        second = _dense(torch.cat([w2, w], dim=1), b2 + b - SKIP_SHIFT * w.sum(1), nn.Identity())
        head = [first, second]
    exported = SentenceTransformer(modules=[*base, *head, models.Normalize()], device="cpu")
    exported.max_seq_length = MAX_TOKENS
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    exported.save(str(folder))
    (folder / "lab_card.json").write_text(json.dumps({"adapter": config.to_dict(), **(card or {})}, indent=2))
    return folder


CUSTOM_CODE = "modeling_lab_adapter"


def _export_token_adapter(
    model: nn.Module, config: AdapterConfig, transformer, d_in: int, folder: Path, card: dict | None
) -> Path:
    """Transformer -> TokenAdapter (the one file of code the folder carries) -> Normalize."""
    from sentence_transformers import SentenceTransformer, models

    from core.sentences import token_adapter  # lazy: loads sentence_transformers

    head = token_adapter.TokenAdapter(config.arch, d_in, int(model.out.out_features), config.hidden, config.pooling)
    head.load_state_dict(model.state_dict())
    exported = SentenceTransformer(modules=[transformer, head.eval(), models.Normalize()], device="cpu")
    exported.max_seq_length = MAX_TOKENS
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    exported.save(str(folder))
    # the folder names the copied file, not the lab's module, so it loads where the lab is not installed
    (folder / f"{CUSTOM_CODE}.py").write_text(Path(token_adapter.__file__).read_text())
    modules_path = folder / "modules.json"
    modules = json.loads(modules_path.read_text())
    for entry in modules:
        if entry["type"] == "core.sentences.token_adapter.TokenAdapter":
            entry["type"] = f"{CUSTOM_CODE}.TokenAdapter"
    modules_path.write_text(json.dumps(modules, indent=2))
    (folder / "lab_card.json").write_text(
        json.dumps({"adapter": config.to_dict(), "load_with": "trust_remote_code=True", **(card or {})}, indent=2)
    )
    return folder


def zip_folder(folder: Path) -> bytes:
    """The exported folder as one zip file (what the dashboard offers for download)."""
    import io
    import zipfile

    folder = Path(folder)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, f"{folder.name}/{path.relative_to(folder)}")
    return buffer.getvalue()
