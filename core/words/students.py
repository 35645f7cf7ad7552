"""The students of the paper: lookup tables that map a word's index to a unit vector.

- Model A: nn.Embedding -> ReLU -> L2 normalization (the paper's crude baseline; the ReLU
  keeps every component >= 0, so it can never point where a teacher's negative components do).
- Model B: nn.Embedding -> [ReLU -> Linear(d -> d/2)] -> [ReLU -> Linear(d/2 -> d)] -> L2 norm.

d is the teacher's dimension. A student is built from a `StudentConfig` and saved with it
(safetensors + JSON), so a saved run reloads without guessing.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from core.config import StudentKind


@dataclass(frozen=True)
class StudentConfig:
    kind: StudentKind
    vocab_size: int  # one row per item of the (possibly lemmatized) dataset
    dim: int  # the teacher's dimension
    in_dim: int = 0  # adapters: the cheap encoder's dimension
    hidden: int = 0  # MLP adapter / subword: the hidden width (0: the default)
    buckets: int = 0  # subword: hash buckets (0: the default)
    cheap: str = ""  # adapters: the cheap encoder's id (its cache is where features come from)
    centres: int = 0  # kernel adapter: how many training words anchor the kernel map

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", StudentKind.parse(self.kind))
        for name, high in (
            ("vocab_size", 10_000_000),
            ("dim", 16_384),
            ("in_dim", 16_384),
            ("hidden", 65_536),
            ("buckets", 10_000_000),
            ("centres", 1_000_000),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
                raise ValueError(f"The student's {name} must be a whole number between 0 and {high:,}, got {value!r}.")
        if self.vocab_size < 1 or self.dim < 2:
            raise ValueError(
                f"A student needs at least one item and two dimensions, got {self.vocab_size} × {self.dim}."
            )
        if self.kind.needs_cheap and self.in_dim < 1:
            raise ValueError("An adapter needs the cheap encoder's dimension (in_dim).")

    def to_dict(self) -> dict:
        return {**asdict(self), "kind": self.kind.value}


def _buffer(scratch: dict, name: str, shape, like: torch.Tensor) -> torch.Tensor:
    """A reusable work array: the per-epoch pass over the whole vocabulary would otherwise
    allocate (and page-fault in) several fresh 15 MB arrays every epoch."""
    buf = scratch.get(name)
    if buf is None or buf.shape != torch.Size(shape) or buf.device != like.device:
        buf = scratch[name] = torch.empty(shape, dtype=like.dtype, device=like.device)
    return buf


def _normalize_(y: torch.Tensor) -> torch.Tensor:
    # In place, the same as F.normalize(y, dim=-1): y / max(|y|, 1e-12).
    return y.div_(torch.linalg.vector_norm(y, dim=-1, keepdim=True).clamp_min_(1e-12))


def _cosine_loss_and_grad(y: torch.Tensor, targets: torch.Tensor, weigh=None) -> tuple[torch.Tensor, torch.Tensor]:
    """mean(1 - cos(y, t)) over the batch and its gradient with respect to y, for unit targets t.

    With o = y / |y|: d/dy = (t - (o.t) o) / (-B |y|) (the normalization's and the cosine's
    projections coincide when |o| = |t| = 1). With `weigh` (a defence: per-answer losses -> weights
    replacing the mean's 1/B) the gradient is that of sum_i w_i (1 - cos_i); the returned loss
    stays the plain mean, so curves compare across defences.
    """
    norm = y.norm(dim=1, keepdim=True).clamp_min_(1e-12)
    out = y / norm
    cos = torch.linalg.vecdot(out, targets)
    residual = torch.addcmul(targets, out, cos.unsqueeze(1), value=-1.0)
    weights = weigh(1.0 - cos) if weigh is not None else None
    if weights is None:
        dy = residual.div_(norm.mul_(-y.shape[0]))
    else:
        dy = residual.mul_(weights.neg().unsqueeze(1)).div_(norm)
    return 1.0 - cos.mean(), dy


def _init_linear(layer: nn.Linear, generator: torch.Generator) -> None:
    # nn.Linear's own default initialization, drawn from an explicit generator so that
    # concurrent runs (a classroom host) do not race on torch's global seed.
    nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
    bound = 1 / math.sqrt(layer.in_features)
    nn.init.uniform_(layer.bias, -bound, bound, generator=generator)


def _table(config: StudentConfig) -> nn.Embedding:
    """The lookup table, its values left unset: `build_student` draws them (from its seeded generator) and
    `load_student` reads them, so nn.Embedding's own N(0, 1) draw would be thrown away (half of a 10k-word
    student's build time)."""
    return nn.Embedding(config.vocab_size, config.dim, _weight=torch.empty(config.vocab_size, config.dim))


class ModelA(nn.Module):
    def __init__(self, config: StudentConfig):
        super().__init__()
        self.config = config
        self.embedding = _table(config)

    def reset_parameters(self, generator: torch.Generator) -> None:
        nn.init.normal_(self.embedding.weight, generator=generator)  # nn.Embedding's default N(0, 1)

    def head(self, rows: torch.Tensor) -> torch.Tensor:
        """Everything after the table lookup, applied to table rows."""
        return F.normalize(F.relu(rows), dim=-1)

    @torch.no_grad()
    def head_into(self, rows: torch.Tensor, scratch: dict) -> torch.Tensor:
        """`head` without autograd into reusable buffers (the result is overwritten next call)."""
        out = torch.clamp_min(rows, 0.0, out=_buffer(scratch, "out", rows.shape, rows))
        return _normalize_(out)

    def loss_and_grads(
        self, rows: torch.Tensor, targets: torch.Tensor, weigh=None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The paper's loss on these rows and its gradient with respect to them, by hand.

        Same values as autograd through `head` + `cosine_embedding_loss` (tested), without
        the autograd engine's per-op bookkeeping, which dominates the small steps here.
        `weigh`: a defence's per-answer weights (see `_cosine_loss_and_grad`).
        """
        loss, dy = _cosine_loss_and_grad(F.relu(rows), targets, weigh)
        return loss, torch.ops.aten.threshold_backward(dy, rows, 0.0)

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        return self.head(self.embedding(index))


class ModelB(nn.Module):
    def __init__(self, config: StudentConfig):
        super().__init__()
        self.config = config
        half = max(1, config.dim // 2)
        self.embedding = _table(config)
        self.down = nn.Linear(config.dim, half)
        self.up = nn.Linear(half, config.dim)

    def reset_parameters(self, generator: torch.Generator) -> None:
        nn.init.normal_(self.embedding.weight, generator=generator)
        _init_linear(self.down, generator)
        _init_linear(self.up, generator)

    def head(self, rows: torch.Tensor) -> torch.Tensor:
        """Everything after the table lookup, applied to table rows."""
        hidden = self.down(F.relu(rows))
        return F.normalize(self.up(F.relu(hidden)), dim=-1)

    @torch.no_grad()
    def head_into(self, rows: torch.Tensor, scratch: dict) -> torch.Tensor:
        """`head` without autograd into reusable buffers (the result is overwritten next call)."""
        h = torch.clamp_min(rows, 0.0, out=_buffer(scratch, "h", rows.shape, rows))
        z = torch.addmm(
            self.down.bias,
            h,
            self.down.weight.t(),
            out=_buffer(scratch, "z", (rows.shape[0], self.down.out_features), rows),
        )
        y = torch.addmm(
            self.up.bias,
            z.relu_(),
            self.up.weight.t(),
            out=_buffer(scratch, "y", (rows.shape[0], self.up.out_features), rows),
        )
        return _normalize_(y)

    def loss_and_grads(
        self, rows: torch.Tensor, targets: torch.Tensor, weigh=None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The paper's loss on these rows (`weigh`: a defence's per-answer weights); writes the layers' gradients into their `.grad` and
        returns the gradient with respect to the rows. By hand, as in Model A (tested against
        autograd): the chain rule through two ReLU + Linear blocks and the normalization."""
        down, up = self.down, self.up
        h = F.relu(rows)
        z = torch.addmm(down.bias, h, down.weight.t())
        a = F.relu(z)
        loss, dy = _cosine_loss_and_grad(torch.addmm(up.bias, a, up.weight.t()), targets, weigh)
        for layer in (down, up):
            if layer.weight.grad is None:
                layer.weight.grad = torch.empty_like(layer.weight)
                layer.bias.grad = torch.empty_like(layer.bias)
        torch.mm(dy.t(), a, out=up.weight.grad)
        torch.sum(dy, dim=0, out=up.bias.grad)
        # threshold_backward(g, x, 0) = g * (x > 0) in one kernel: ReLU's own backward.
        dz = torch.ops.aten.threshold_backward(torch.mm(dy, up.weight), z, 0.0)
        torch.mm(dz.t(), h, out=down.weight.grad)
        torch.sum(dz, dim=0, out=down.bias.grad)
        return loss, torch.ops.aten.threshold_backward(torch.mm(dz, down.weight), rows, 0.0)

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        return self.head(self.embedding(index))


STUDENTS: dict[StudentKind, type[nn.Module]] = {StudentKind.A: ModelA, StudentKind.B: ModelB}


def student_class(kind: StudentKind) -> type[nn.Module]:
    if kind in STUDENTS:
        return STUDENTS[kind]
    from core.words.generalizing import GENERAL_STUDENTS

    return GENERAL_STUDENTS[kind]


def build_student(config: StudentConfig, seed: int = 0, items=None, features=None) -> nn.Module:
    """A freshly initialized student; the same config and seed give the same weights.

    Students that generalize read inputs every item has: `items` (the texts, for subword n-grams)
    and `features` (the cheap encoder's vectors, for adapters).
    """
    model = student_class(config.kind)(config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.reset_parameters(generator)
    if config.kind.generalizes:
        model.set_inputs(items, features)
    return model


@torch.no_grad()
def student_vectors(model: nn.Module, device: str = "cpu") -> torch.Tensor:
    """Every item's vector under any student (unit rows, item order)."""
    if hasattr(model, "predict_all"):
        return model.predict_all()
    from core.words.train import embed_all

    return embed_all(model, model.config.vocab_size, device)


def save_student(model: nn.Module, folder: Path) -> None:
    from safetensors.torch import save_file

    folder = Path(folder)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    save_file(state, folder / "student.safetensors")
    (folder / "student.json").write_text(json.dumps(model.config.to_dict(), indent=2))


def read_student_config(folder: Path) -> StudentConfig:
    path = Path(folder) / "student.json"
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise TypeError("not a JSON object")
        return StudentConfig(**data)
    except (OSError, ValueError, TypeError) as err:
        raise ValueError(
            f"The student's settings in {path} cannot be used ({err}); the run folder was changed or damaged."
        ) from None


def load_student(folder: Path, device: str = "cpu", items=None, features=None) -> nn.Module:
    """Rebuild a saved student from its JSON config and safetensors weights (no pickle).
    Generalizing students also need their inputs (`items`, `features`), which are not stored."""
    from safetensors.torch import load_file

    folder = Path(folder)
    config = read_student_config(folder)
    model = student_class(config.kind)(config)
    try:
        model.load_state_dict(load_file(folder / "student.safetensors"))
    except Exception as err:  # safetensors and torch raise several kinds; the user needs one sentence
        raise ValueError(
            f"The student's weights in {folder} are damaged or do not match its settings "
            f"({type(err).__name__}: {str(err).splitlines()[0][:160]})."
        ) from None
    model = model.to(device).eval()
    if config.kind.generalizes:
        model.set_inputs(items, features)
    return model
