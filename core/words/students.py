"""Building, saving and loading students of any kind (the registry, `core.words.registry`, says which class
each kind is; the lookup tables of the paper are in `core.words.tables`, the students that generalize in
`core.words.generalizing`).

A student is built from a `StudentConfig` and saved with it (safetensors + JSON), so a saved run reloads
without guessing. Saved weights keep their names across versions: run folders written before the students
were declared as layers (keys "embedding.weight", "down.weight", "down.bias", "up.weight", "up.bias") load
unchanged, and keys of a head stored as a sequence ("head.1.weight", ...) are mapped onto them.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from core.words.registry import StudentConfig, register, student_class

__all__ = [
    "StudentConfig",
    "build_student",
    "load_student",
    "read_student_config",
    "register",
    "save_student",
    "student_class",
    "student_vectors",
]


def build_student(config: StudentConfig, seed: int = 0, items=None, features=None) -> nn.Module:
    """A freshly initialized student; the same config and seed give the same weights.

    Students that generalize read inputs every item has: `items` (the texts, for subword n-grams)
    and `features` (the cheap encoder's vectors, for adapters).
    """
    model = student_class(config.kind)(config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.reset_parameters(generator)
    if model.generalizes:
        model.set_inputs(items, features)
    return model


@torch.no_grad()
def student_vectors(model: nn.Module, device: str = "cpu") -> torch.Tensor:
    """Every item's vector under any student (unit rows, item order)."""
    return model.predict_all()


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


def stored_state(model: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A stored state dict under the names `model` uses: a table student's head stored by position in its
    layer list ("head.<i>.<param>") is renamed to the attribute of that layer ("down.weight")."""
    if not hasattr(model, "head_layers"):
        return state
    names = {id(module): name for name, module in model.named_modules()}
    by_position = {str(i): names.get(id(layer)) for i, layer in enumerate(model.head_layers())}
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "head" and by_position.get(parts[1]):
            key = f"{by_position[parts[1]]}.{parts[2]}"
        out[key] = value
    return out


def load_student(folder: Path, device: str = "cpu", items=None, features=None) -> nn.Module:
    """Rebuild a saved student from its JSON config and safetensors weights (no pickle).
    Generalizing students also need their inputs (`items`, `features`), which are not stored."""
    from safetensors.torch import load_file

    folder = Path(folder)
    config = read_student_config(folder)
    model = student_class(config.kind)(config)
    try:
        model.load_state_dict(stored_state(model, load_file(folder / "student.safetensors")))
    except Exception as err:  # safetensors and torch raise several kinds; the user needs one sentence
        raise ValueError(
            f"The student's weights in {folder} are damaged or do not match its settings "
            f"({type(err).__name__}: {str(err).splitlines()[0][:160]})."
        ) from None
    model = model.to(device).eval()
    if model.generalizes:
        model.set_inputs(items, features)
    return model
