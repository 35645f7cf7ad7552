"""pick_device: CUDA, then Apple's MPS, then the CPU; a device the machine lacks is a clear error."""

import pytest
import torch

from core.device import pick_device, usable_device


@pytest.fixture
def machine(monkeypatch):
    """Pretend this machine has the given accelerators."""
    monkeypatch.delenv("EMBEDDING_LAB_DEVICE", raising=False)

    def have(cuda: bool, mps: bool) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)

    return have


@pytest.mark.parametrize("cuda, mps, expected", [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_prefers_cuda_then_mps_then_cpu(machine, cuda, mps, expected):
    machine(cuda, mps)
    assert pick_device() == expected


def test_a_request_wins_and_a_missing_device_says_so(machine, monkeypatch):
    machine(False, False)
    assert pick_device("cpu") == "cpu"
    monkeypatch.setenv("EMBEDDING_LAB_DEVICE", "cpu")
    assert pick_device() == "cpu"
    with pytest.raises(ValueError, match="no GPU is available"):
        pick_device("cuda")
    with pytest.raises(ValueError, match="MPS device was requested"):
        pick_device("mps")


def test_the_device_flag_gets_the_environments_checks(machine):
    """`--device cuda` on a machine without CUDA is the same sentence as EMBEDDING_LAB_DEVICE=cuda, not torch's
    AssertionError; 'cpu' is always usable."""
    machine(False, False)
    assert usable_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="no GPU is available"):
        usable_device("cuda")
    with pytest.raises(ValueError, match="not a device"):
        usable_device("tpu")
