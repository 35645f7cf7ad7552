"""The story's engine (core/story/) on the fake teacher: one split for both students, each step's frame,
and a story whose runs are missing says what is missing. The real-teacher criterion is marked slow."""

from __future__ import annotations

import os
import shutil
from datetime import UTC

import numpy as np
import pytest

from core import story, tryit
from core.charts import story as story_charts
from core.config import StudentKind
from core.data.dataset import build_dataset
from core.paths import runs_dir, teacher_cache_dir
from core.runs.experiment import prepare_items
from core.runs.store import list_runs, load_run
from core.teachers.teacher import CachedTeacher, HashTeacher

WORDS = ["king", "queen", "man", "woman", "prince", "princess", "happy", "sad", "river", "lake"] + [
    f"word{i}" for i in range(290)
]


@pytest.fixture
def settings() -> story.StorySettings:
    return story.StorySettings(teacher="hash-32", cheap="hash-16", vocabulary="test-300")


@pytest.fixture
def prepared():
    return prepare_items(WORDS, "none", CachedTeacher(HashTeacher(32), teacher_cache_dir()))


@pytest.fixture(scope="module")
def story_home(tmp_path_factory):
    """A lab home holding the story's runs on `WORDS` (`warm_story`, ~5 s), trained once for this file; no test
    reads it: `trained` copies it into a test's own home."""
    home = tmp_path_factory.mktemp("story-home") / "lab"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("EMBEDDING_LAB_HOME", str(home))
        settings = story.StorySettings(teacher="hash-32", cheap="hash-16", vocabulary="test-300")
        story.warm_story(
            settings=settings,
            prepared=prepare_items(WORDS, "none", CachedTeacher(HashTeacher(32), teacher_cache_dir())),
        )
    return home


@pytest.fixture
def trained(story_home, lab_home):
    """The story's runs already stored in this test's home (a copy: what a test changes is its own), so its
    `warm_story` finds them all and only reads their scores, as on a warmed lab."""
    shutil.copytree(story_home, lab_home, dirs_exist_ok=True)


def test_the_pair_and_the_poisoned_pair_train_on_the_same_words(settings, prepared):
    b, adapter = story.pair_configs(settings)
    assert (b.model, adapter.model) == (StudentKind.B, StudentKind.KERNEL) and adapter.cheap == "hash-16"
    configs = story.story_configs(settings)
    assert len(configs) == len(set(configs)) == 2 * len(settings.ps) + 2
    splits = {
        c: build_dataset(prepared.items, prepared.clean, c.p, c.poison, c.seed).train_idx
        for c in configs
        if c.p == settings.p
    }
    assert len(splits) == 4  # B and the adapter, clean and poisoned
    first = next(iter(splits.values()))
    assert all(np.array_equal(first, idx) for idx in splits.values())


def test_env_picks_the_teacher_for_tests():
    fake = story.StorySettings.from_env({story.TEACHER_ENV: "hash-32"})
    assert (fake.teacher, fake.cheap) == ("hash-32", "hash-16")
    real = story.StorySettings.from_env({})
    assert (real.teacher, real.cheap) == ("mpnet", "minilm")  # the adapter reads the ~6x cheaper model
    assert real.vocabulary == story.story_vocabulary().label


def test_missing_runs_are_named_and_step_one_needs_none(settings):
    runs = story.find_story_runs(list_runs(runs_dir()), settings)
    assert not runs.found and len(runs.missing) == len(story.story_configs(settings))
    assert runs.waiting_sentence(1) is None
    sentence = runs.waiting_sentence(2)
    assert "still preparing" in sentence and "Model B at p = 0.2" in sentence and "adapter" not in sentence
    assert "1 of its 1" in sentence
    assert story.describe(story.story_configs(settings)[-1]) == "the adapter at p = 0.2 with 10% poison"


def test_warm_story_trains_once_and_every_step_has_its_frame(settings, prepared):
    ids = story.warm_story(settings=settings, prepared=prepared)
    assert len(ids) == len(set(ids)) == len(story.story_configs(settings))
    assert story.warm_story(settings=settings, prepared=prepared) == ids  # idempotent: nothing retrained
    runs = story.find_story_runs(list_runs(runs_dir()), settings)
    assert not runs.missing and runs.waiting_sentence(5) is None
    assert all(load_run(runs_dir(), r).meta.get("shared") for r in ids)  # in the gallery: every person can open them

    scores = {rid: story.story_scores(load_run(runs_dir(), rid), settings=settings) for rid in ids}
    assert all((load_run(runs_dir(), rid).folder / "story-scores.json").exists() for rid in ids)
    assert all(s["polite"] is True and s["version"] == story.SCORES_VERSION for s in scores.values())
    from dataclasses import replace

    rude = story.story_scores(load_run(runs_dir(), ids[0]), settings=replace(settings, polite=False))
    assert rude["polite"] is False  # kept scores made with the filter are not shown without it
    pair = {story.student_label(m): scores[runs.run_id(m)] for m in (StudentKind.B, StudentKind.KERNEL)}

    split = story.split_cosine_frame(pair)
    assert split.columns == ["student", "words", "cosine", "count"] and split.height == 4
    assert split["count"].sum() == 2 * len(WORDS)
    neighbours = story.neighbours_frame(pair, settings.words)
    assert neighbours.columns == ["word", "who", "shared", "seen", "searched", "among", "neighbours"]
    assert neighbours["word"].to_list() == ["king"] * 3 + ["queen"] * 3
    assert neighbours.filter(who="Teacher")["shared"].to_list() == [settings.k] * 2
    assert all(len(n.split(", ")) == settings.k for n in neighbours["neighbours"])

    quality = story.quality_frame(runs, scores)
    assert quality.columns == [
        "student",
        "p",
        "queries",
        "heldout_cosine",
        "neighbours_shared",
        "baseline_cosine",
        "run_id",
    ]
    assert quality.height == 2 * len(settings.ps) and quality["queries"].min() >= 1
    poison = story.poison_frame(runs, scores)
    assert poison.columns == ["student", "answers", "heldout_cosine", "neighbours_shared", "run_id"]
    assert sorted(poison["answers"].to_list()) == ["10% poisoned", "10% poisoned", "all clean", "all clean"]

    # every chart builds and says what its axes are
    for chart in (
        story_charts.split_bars(split),
        story_charts.quality_lines(quality),
        story_charts.quality_lines(quality, "neighbours_shared"),
        story_charts.poison_bars(poison),
    ):
        spec = chart.to_dict()
        assert spec.get("title") and ("Cosine to the teacher" in str(spec) or "Closest words" in str(spec))
    # each split bar says under its value what it measures: the legend's shade key is grey, the bars are coloured
    labels = [r["label"] for r in next(iter(story_charts.split_bars(split).to_dict()["datasets"].values()))]
    assert {text.split("\n")[1] for text in labels} == {"taught", "new words"}
    assert all(text.split("\n")[0].replace(".", "").lstrip("-").isdigit() for text in labels)


def test_teacher_neighbours_hand_worked():
    m = np.array([[1, 0], [0.8, 0.6], [0, 1], [-1, 0]], dtype=np.float32)
    frame = story.teacher_neighbours_frame(["a", "b", "c", "d"], m, ["a", "zzz"], k=2)
    assert frame.columns == ["word", "rank", "neighbour", "cosine"]
    assert frame["neighbour"].to_list() == ["b", "c"] and frame["cosine"].to_list() == [0.8, 0.0]
    chart = story_charts.teacher_neighbours(frame).to_dict()
    assert chart["title"]["text"] == "The teacher's closest words"


def test_run_scores_on_a_perfect_student():
    class Vectors:
        items = ("king", "queen", "a", "b")
        teacher = np.eye(4, dtype=np.float32) + 0.1
        student = teacher.copy()
        groups = ("training", "held-out", "held-out", "training")

        def index(self):
            return {w: i for i, w in enumerate(self.items)}

    scores = story.run_scores(Vectors(), ("king", "queen"), k=2)
    assert scores["heldout_cosine"] == pytest.approx(1.0) and scores["training_cosine"] == pytest.approx(1.0)
    assert scores["neighbours_shared"] == pytest.approx(2.0)
    assert scores["neighbours"]["king"]["seen"] and not scores["neighbours"]["queen"]["seen"]
    assert scores["training_words"] == 2 and scores["heldout_words"] == 2


@pytest.mark.slow
def test_real_teachers_adapter_shares_five_of_eight_neighbours_of_king_and_queen(tmp_path):
    """The acceptance criterion, with the bundled MPNet teacher and the adapter reading MiniLM (both
    embedded once into the lab's cache: ~5 minutes on a 2-core CPU the first time)."""
    from core.runs.evaluated import run_vectors
    from core.runs.experiment import TrainingRun

    home = os.environ.get("EMBEDDING_LAB_STORY_HOME")  # a warm cache to reuse, when there is one
    cache = teacher_cache_dir() if not home else __import__("pathlib").Path(home) / "cache" / "teachers"
    settings = story.StorySettings()
    prepared = story.prepare_story_data(settings, cache)
    scores = {}
    for config in story.pair_configs(settings):
        run = TrainingRun(config, prepared, tmp_path / "runs", device="cpu", cache_root=cache)
        list(run)
        scores[story.student_label(config.model)] = story.run_scores(
            run_vectors(load_run(tmp_path / "runs", run.run_id), cache), settings.words, 8
        )
    frame = story.neighbours_frame(scores, settings.words)
    adapter = dict(zip(*frame.filter(who=story.student_label("kernel")).select("word", "shared")))
    model_b = dict(zip(*frame.filter(who=story.student_label("B")).select("word", "shared")))
    assert adapter["king"] >= 5 and adapter["queen"] >= 5, frame
    assert model_b["queen"] <= 1  # a word it was never told about keeps its random start


def test_warm_story_trains_model_b_as_one_group_with_the_curves_and_scores_of_runs_trained_alone(
    settings, prepared, trained, tmp_path
):
    """The story's runs train in the sweep's batches (Model B's runs as one group) and are scored with one shared
    `StoryScoring`; the reference is what warm_story did before: each run alone (`TrainingRun`), scored alone."""
    from core.runs.evaluated import run_vectors
    from core.runs.experiment import TrainingRun

    ids = dict(zip(story.story_configs(settings), story.warm_story(settings=settings, prepared=prepared)))
    models_b = [c for c in ids if c.model is StudentKind.B]
    assert {load_run(runs_dir(), ids[c]).meta.get("grouped_with") for c in models_b} == {len(models_b)}
    for config, run_id in ids.items():
        single = TrainingRun(config, prepared, tmp_path / "alone", device="cpu", cache_root=teacher_cache_dir())
        list(single)
        alone, batched = load_run(tmp_path / "alone", single.run_id), load_run(runs_dir(), run_id)
        assert alone.epochs.height == batched.epochs.height == config.epochs
        for column in ("train_loss", "train_cosine", "heldout_cosine"):  # the sweep's tolerance, grouped vs single
            diff = (alone.epochs[column] - batched.epochs[column]).abs().max()
            assert diff is None or diff < 1e-5, (config, column)
        reference = story.run_scores(run_vectors(alone, teacher_cache_dir()), settings.words, settings.k)
        scores = story.story_scores(batched, settings=settings)
        for key in ("training_cosine", "heldout_cosine", "baseline_cosine"):
            assert scores[key] == pytest.approx(reference[key], abs=1e-5), (config, key)
        assert scores["neighbours_shared"] == pytest.approx(reference["neighbours_shared"], abs=0.01), config
        if config.model is StudentKind.KERNEL:  # trained alone either way: the very same scores
            assert scores == reference


def test_shared_scoring_gives_the_scores_of_scoring_alone(settings, prepared, trained):
    ids = story.warm_story(settings=settings, prepared=prepared)
    scoring = story.StoryScoring(teacher_cache_dir())
    from core.runs.evaluated import run_vectors

    for run_id in ids:
        stored = load_run(runs_dir(), run_id)
        shared = story.run_scores(scoring.run_vectors(stored), settings.words, settings.k, scoring)
        assert shared == story.run_scores(run_vectors(stored, teacher_cache_dir()), settings.words, settings.k)
    assert len(scoring._neighbours) == len(settings.ps)  # the teacher's neighbours found once per p's held-out words


def test_warm_story_keeps_a_zero_answer_student_that_saw_no_answer_and_step_four_draws_it_at_0(
    settings, prepared, trained
):
    ids = story.warm_story(settings=settings, prepared=prepared)
    path = story.zero_answer_path(settings)
    assert not path.exists()  # the story's runs come first: the map is the warm-up's last step, 'zero-answer'
    assert story.zero_answer_scores(settings) is None
    assert story.warm_zero_answer(settings=settings) is not None
    assert path.exists() and path.parent.name == "zero-answer"
    zero = story.zero_answer_scores(settings)  # read from its file: never fitted on a visitor's click
    assert zero == story.zero_answer_scores(settings, compute=True)  # kept, not fitted again
    assert zero["training_words"] == 0 and zero["public_words"] == int(0.3 * len(WORDS))
    assert zero["heldout_words"] == len(WORDS) - zero["public_words"]  # scored only where it saw no teacher vector
    assert zero["baseline_cosine"] is not None and zero["heldout_cosine"] is not None
    frame = story.zero_answer_frame(zero)
    assert frame.row(0, named=True) | {"heldout_cosine": 0} == {
        "student": story.ZERO_LABEL,
        "p": 0.0,
        "queries": 0,
        "heldout_cosine": 0,
        "neighbours_shared": zero["neighbours_shared"],
        "baseline_cosine": zero["baseline_cosine"],
        "run_id": "",
    }
    runs = story.find_story_runs(list_runs(runs_dir()), settings)
    quality = story.quality_frame(
        runs, {r: story.story_scores(load_run(runs_dir(), r), settings=settings) for r in ids}
    )
    for metric in ("heldout_cosine", "neighbours_shared"):
        spec = story_charts.quality_lines(quality, metric, zero=frame).to_dict()
        zero_column, curve = spec["hconcat"]
        assert zero_column["layer"][0]["encoding"]["x"]["field"] == "at"  # a column of its own, not a log-axis point
        data = zero_column["layer"][0].get("data", zero_column.get("data"))
        assert spec["datasets"][data["name"]][0]["at"] == story_charts.ZERO_AXIS
        assert curve["layer"][0]["encoding"]["x"]["scale"]["type"] == "log"
        assert spec["resolve"]["scale"]["y"] == "shared"  # the same vertical scale on both sides
    assert len(spec["hconcat"][0]["layer"]) == 1  # closest words: the map alone (no learns-nothing line there)
    assert story_charts.quality_lines(quality, zero=story.zero_answer_frame(None)).to_dict().get("hconcat") is None
    assert story.zero_answer_scores(story.StorySettings(teacher="hash-32", cheap="hash-16", seed=3)) is None


def test_the_zero_answer_story_student_needs_enough_words(settings, prepared, tmp_path):
    few = story.StorySettings(teacher="hash-32", cheap="hash-16", vocabulary="test-30")
    with pytest.raises(ValueError, match="at least 40 vectors"):
        story.zero_answer_scores(few, items=WORDS[:30], compute=True)


@pytest.mark.parametrize("depth", [50_000, 30_000])  # over the store's size bound, and under it but too deep
def test_a_story_run_with_a_deep_student_json_is_damaged_data_not_a_recursion_error(settings, prepared, trained, depth):
    from core.errors import DamagedData
    from core.paths import runs_dir
    from core.runs.store import load_run

    run_id = story.warm_story(settings=settings, prepared=prepared)[0]
    folder = runs_dir() / run_id
    (folder / "student.json").write_text("[" * depth + "]" * depth)
    (folder / "story-scores.json").unlink(missing_ok=True)
    with pytest.raises(DamagedData, match="student.json"):
        story.story_scores(load_run(runs_dir(), run_id), settings=settings)


def test_a_lesson_word_is_searched_among_the_lessons_a_new_word_among_all():
    """Step 2's table: Model B's never-taught words keep random numbers; among all words they crowd out a lesson
    word's true neighbours (0 of k shared though the word was in its lessons). A lesson word is searched among the
    lessons, under the teacher and the student alike, and a new word among every word."""

    class Vectors:
        items = ("king", "queen", "prince", "crown", "noise1", "noise2")
        teacher = np.array(
            [[1, 0, 0, 0], [0.9, 0.1, 0, 0], [0.8, 0.2, 0, 0], [0.7, 0.3, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]],
            dtype=np.float32,
        )
        student = teacher.copy()
        student[4:] = [[1, 0.01, 0, 0], [1, 0.02, 0, 0]]  # never taught: where a lookup table's random rows may land
        groups = ("training", "held-out", "training", "training", "held-out", "held-out")

        def index(self):
            return {w: i for i, w in enumerate(self.items)}

    scores = story.run_scores(Vectors(), ("king", "queen"), k=2)
    king, queen = scores["neighbours"]["king"], scores["neighbours"]["queen"]
    assert king["seen"] and king["among"] == 3  # the three lesson words
    assert king["teacher"] == ["prince", "crown"] and king["student"] == ["prince", "crown"]  # learnt by heart
    assert not queen["seen"] and queen["among"] == len(Vectors.items)
    frame = story.neighbours_frame({"Model B": scores}, ("king", "queen"))
    assert frame.filter(word="king")["searched"].to_list() == ["the lessons"] * 2
    assert frame.filter(word="queen")["searched"].to_list() == ["all words"] * 2
    assert frame.filter(word="king", who="Model B")["shared"].item() == 2


def test_closest_word_lists_leave_out_offensive_words_near_a_story_word():
    """The story is shown on a projector: an offensive word right beside *king* (among its lessons) and beside
    *queen* (among every word) is left out of both lists, under the teacher and the student, unless asked for; the
    scores themselves are not filtered."""

    class Vectors:
        items = ("king", "shit", "prince", "crown", "queen", "fucking", "princess", "noise")
        teacher = np.array(
            [
                [1, 0, 0, 0],  # king
                [0.99, 0.01, 0, 0],  # shit: king's closest word
                [0.9, 0.1, 0, 0],  # prince
                [0.8, 0.2, 0, 0],  # crown
                [0, 1, 0, 0],  # queen
                [0.01, 0.99, 0, 0],  # fucking: queen's closest word
                [0.1, 0.9, 0, 0],  # princess
                [0, 0, 0, 1],  # noise
            ],
            dtype=np.float32,
        )
        student = teacher.copy()
        groups = ("training", "training", "training", "training", "held-out", "held-out", "held-out", "held-out")

        def index(self):
            return {w: i for i, w in enumerate(self.items)}

    rude = story.run_scores(Vectors(), ("king", "queen"), k=2, polite=False)
    assert rude["neighbours"]["king"]["teacher"] == ["shit", "prince"]  # the list really holds them unfiltered
    assert rude["neighbours"]["queen"]["student"][0] == "fucking"
    scores = story.run_scores(Vectors(), ("king", "queen"), k=2)  # polite by default
    king, queen = scores["neighbours"]["king"], scores["neighbours"]["queen"]
    assert king["teacher"] == king["student"] == ["prince", "crown"] and king["among"] == 4
    assert queen["teacher"] == queen["student"] == ["princess", "crown"] and queen["among"] == len(Vectors.items)
    assert scores["polite"] and not rude["polite"]
    assert {k: v for k, v in scores.items() if k not in ("neighbours", "polite")} == {
        k: v for k, v in rude.items() if k not in ("neighbours", "polite")
    }
    frame = story.neighbours_frame({"Model B": scores}, ("king", "queen"))
    assert not any("shit" in n or "fucking" in n for n in frame["neighbours"])

    teacher = story.teacher_neighbours_frame(Vectors.items, Vectors.teacher, ["king", "queen"], k=2)  # step 1
    assert teacher["neighbour"].to_list() == ["prince", "crown", "princess", "crown"]
    rude_teacher = story.teacher_neighbours_frame(Vectors.items, Vectors.teacher, ["king"], k=1, polite=False)
    assert rude_teacher["neighbour"].to_list() == ["shit"]


# ---- Try it: an identical stored run is reused, decided by the engine -----------------------------------------

# one change per setting of a run: each gives another result, so a stored run that differs in it is never reused
CHANGES = {
    "teacher": "hash-16",
    "model": StudentKind.A,
    "p": 0.05,
    "epochs": 41,
    "lemmatize": "spacy",
    "poison": 0.05,
    "seed": 1,
    "batch_size": 128,
    "lr": 0.02,
    "vocabulary": "another-list",
    "cheap": "hash-8",
    "adversary": "swap",
    "poison_scope": "train",
    "defence": "trimmed",
    "trim": 0.1,
    "selection": "typical",
}


def _rewrite_meta(run_id: str, **changes) -> None:
    import json

    path = runs_dir() / run_id / "run.json"
    meta = json.loads(path.read_text())
    meta.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        meta.pop(key)
    path.write_text(json.dumps(meta))


def test_try_it_reuses_the_story_pair_stored_at_setup(settings, prepared, trained, monkeypatch):
    import core.runs.store

    ids = story.warm_story(settings=settings, prepared=prepared)

    def whole_run(*args, **kwargs):  # Try it's reuse reads each run's run.json, never a whole run (seconds a click)
        raise AssertionError("find_identical loaded a whole run")

    monkeypatch.setattr(core.runs.store, "load_run", whole_run)
    plan = tryit.plan_try_it(settings)
    assert plan.to_train == [] and [t.run_id for t in plan.reused.values()] == ids[:2]
    assert all(t.story for t in plan.reused.values())
    assert plan.sentence() == (
        "The same pair was trained when the lab was set up — here it is. Change p or the seed to train a new one."
    )
    from dataclasses import replace

    other = tryit.plan_try_it(replace(settings, seed=1))  # another seed: other words, another pair
    assert other.reused == {} and other.to_train == list(story.pair_configs(replace(settings, seed=1)))
    assert other.sentence() is None
    assert tryit.plan_try_it(replace(settings, p=0.1)).to_train == []  # p = 0.1 is one of step 4's story runs
    fresh = tryit.plan_try_it(replace(settings, p=0.25, ps=(0.25,)))  # a p the story never trained
    assert fresh.reused == {} and len(fresh.to_train) == 2
    b, story_frame = story.pair_configs(settings)[0], list_runs(runs_dir())
    assert tryit.find_identical(b, runs=story_frame).run_id == ids[0]
    (runs_dir() / ids[0] / "run.json").write_text("[" * 50_000 + "]" * 50_000)  # damaged after it was listed
    assert tryit.find_identical(b, runs=story_frame) is None


def test_a_stored_run_differing_in_any_one_setting_is_not_reused(settings, prepared, trained):
    """Every setting of a run (each field of TrainConfig) changes its result: a stored run that differs from the
    asked config in any one of them is never reused."""
    from dataclasses import fields

    import polars as pl

    from core.config import TrainConfig

    assert set(CHANGES) == {f.name for f in fields(TrainConfig)}  # a new setting must be added here
    b_id = story.warm_story(settings=settings, prepared=prepared)[0]
    b = story.pair_configs(settings)[0]
    frame = list_runs(runs_dir())
    assert tryit.find_identical(b, runs=frame).run_id == b_id
    for field, value in CHANGES.items():
        value = {"teacher": "hash-16", "model": "A", "lemmatize": "spacy"}.get(field, value)
        column = field
        differs = frame.with_columns(
            pl.when(pl.col("run_id") == b_id).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)
        )
        assert differs.filter(run_id=b_id)[column].item() != frame.filter(run_id=b_id)[column].item(), field
        assert tryit.find_identical(b, runs=differs) is None, field


def test_on_a_host_a_classmates_run_is_reused_only_when_shared_and_says_so(settings, prepared, trained):
    from datetime import datetime

    b_id, adapter_id = story.warm_story(settings=settings, prepared=prepared)[:2]
    for run_id in (b_id, adapter_id):  # as if bob had trained the pair at 10:02 and kept it to himself
        _rewrite_meta(run_id, owner="bob", shared=False, story=None, created="2026-12-07T10:02:41+0000")
    now = datetime(2026, 12, 7, 11, 30, tzinfo=UTC)
    assert tryit.plan_try_it(settings, owner="ada", hosted=True).reused == {}  # not hers to see
    mine = tryit.plan_try_it(settings, owner="bob", hosted=True)
    assert mine.to_train == [] and mine.sentence(now).startswith("The same pair was trained at 10:02 by you")
    for run_id in (b_id, adapter_id):
        _rewrite_meta(run_id, shared=True)  # bob shares it in the gallery
    plan = tryit.plan_try_it(settings, owner="ada", hosted=True)
    assert plan.to_train == []
    assert plan.sentence(now) == (
        "The same pair was trained at 10:02 for a classmate — here it is. Change p or the seed to train a new one."
    )
    assert tryit.plan_try_it(settings, owner="ada", hosted=True, gallery=False).reused == {}
    _rewrite_meta(adapter_id, status="interrupted")  # only a finished run is reused: the adapter trains again
    half = tryit.plan_try_it(settings, owner="ada", hosted=True)
    assert [c.model for c in half.to_train] == [StudentKind.KERNEL]
    assert half.sentence(now) == (
        "The same Model B at p = 0.2 was trained at 10:02 for a classmate: it is reused; the adapter at p = 0.2 "
        "trains now."
    )


def test_try_it_joins_an_identical_training_in_flight_that_the_person_may_see(settings, prepared, trained):
    """Issue 30: a pair not stored yet but training now with the same settings is joined, not trained again, when
    its run will be visible to the person: anyone's on a personal machine; on a host their own, the lab's, or one
    going into the gallery (`try_it_extra`) — never a classmate's private training, nor with the gallery off."""
    from dataclasses import replace
    from types import SimpleNamespace

    fresh = replace(settings, seed=7)
    b, adapter = story.pair_configs(fresh)
    bob_private = SimpleNamespace(config=b, owner="bob", extra={})
    bob_shared = SimpleNamespace(config=b, owner="bob", extra=tryit.try_it_extra(hosted=True))
    assert tryit.try_it_extra(hosted=True) == {"shared": True}
    assert tryit.try_it_extra(hosted=False) == tryit.try_it_extra(hosted=True, gallery=False) == {}
    other = SimpleNamespace(config=replace(b, seed=8), owner="bob", extra={"shared": True})

    alone = tryit.plan_try_it(fresh, owner="ada", running=[other])  # other words: nothing to join
    assert alone.joined == {} and alone.to_train == [b, adapter] and alone.sentence() is None
    laptop = tryit.plan_try_it(fresh, owner="ada", running=[bob_private])  # one machine: every run is everyone's
    assert laptop.joined == {b: bob_private} and laptop.to_train == [adapter]
    assert laptop.sentence() == (
        "Model B at p = 0.2 is already training on this computer: you watch that training; the adapter at p = 0.2 "
        "trains now."
    )
    assert tryit.plan_try_it(fresh, "ada", hosted=True, running=[bob_private]).joined == {}  # not hers to see
    hosted = tryit.plan_try_it(fresh, "ada", hosted=True, running=[bob_shared])
    assert hosted.joined == {b: bob_shared}
    assert tryit.plan_try_it(fresh, "ada", hosted=True, gallery=False, running=[bob_shared]).joined == {}
    pair = [bob_shared, SimpleNamespace(config=adapter, owner="bob", extra={"shared": True})]
    both = tryit.plan_try_it(fresh, "ada", hosted=True, running=pair)
    assert both.to_train == [] and list(both.joined.values()) == pair
    assert both.sentence() == (
        "The same pair is already training for a classmate: you watch that training instead of starting a second one."
    )
    assert both.sentence(trained=True).startswith("The same pair was trained just now for a classmate")
    assert (
        tryit.plan_try_it(fresh, "bob", hosted=True, running=pair)
        .sentence()
        .startswith("The same pair is already training for you (an earlier click)")
    )


def test_a_new_try_it_pair_is_scored_for_step_three_before_its_trainings_count_as_done(settings, prepared, lab_home):
    """Step 3 redraws on a new pair by reading files: each training scores its own run before it is done."""
    import json
    from dataclasses import replace

    from core.jobs import JobBoard
    from tests.waiting import wait_for

    fresh = replace(settings, seed=3)
    plan = tryit.plan_try_it(fresh)
    board = JobBoard(runs_dir())
    jobs = board.submit_together(plan.to_train, prepared, then=tryit.score_when_stored(fresh, runs_dir()))
    assert len(jobs) == 2
    for job in jobs:
        assert wait_for(lambda job=job: job.done), "the pair's training did not end"
        assert job.state.value == "finished", job.error
        folder = load_run(runs_dir(), job.run_id).folder
        kept = json.loads((folder / "story-scores.json").read_text())  # there the moment the job is done
        (folder / "story-scores.json").unlink()
        assert kept == story.story_scores(load_run(runs_dir(), job.run_id), settings=fresh)  # what the page computes
