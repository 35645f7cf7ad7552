import pytest

from core.config import LemmaMode, StudentKind, TrainConfig


def test_strings_become_enums_and_round_trip():
    cfg = TrainConfig(model="b", lemmatize="spacy", p=0.5)
    assert cfg.model is StudentKind.B and cfg.lemmatize is LemmaMode.SPACY
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert hash(cfg) == hash(TrainConfig.from_dict(cfg.to_dict()))


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"p": 0}, "p (the training fraction)"),
        ({"p": 1.5}, "at most 1"),
        ({"p": float("nan")}, "must be a number"),
        ({"poison": 1.0}, "below 1"),
        ({"poison": -0.1}, "between 0 and 1"),
        ({"epochs": 0}, "epochs must be between"),
        ({"epochs": 2.5}, "whole number"),
        ({"model": "C"}, "model must be one of A, B, ridge"),
        ({"lemmatize": "stem"}, "lemmatize must be one of"),
        ({"batch_size": 0}, "batch size"),
        ({"teacher": " "}, "teacher must name"),
    ],
)
def test_bad_values_get_a_sentence(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        TrainConfig(**kwargs)


def test_unknown_keys_in_a_stored_config_are_refused():
    with pytest.raises(ValueError, match="Unknown setting"):
        TrainConfig.from_dict({"p": 0.1, "evil": 1})
