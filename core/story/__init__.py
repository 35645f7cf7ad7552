"""The lab's finding as a short guided story: its settings, the stored runs behind it, each step's data.

The story (pages/story.py draws it) in five steps:
1. what the teacher knows: its nearest neighbours of a few words;
2. the paper's student (Model B, a lookup table) learns its lessons by heart and fails on new words;
3. a student that reads a cheap model (the kernel adapter) is right on words it never saw — both
   trained on the same split (same seed and p: `core.data.dataset.split_indices`);
4. how few answers are enough: held-out quality against teacher queries for both students, and beside them a
   student given no answer at all (`zero_answer_scores`: a map from the cheap model's space into the teacher's,
   learnt without pairs, `core.words.zero_answer`);
5. what poison does: both students with and without 10 % poisoned answers.

Its runs are ordinary stored runs (`core.runs.experiment.TrainingRun`): the other pages open them, and a run
already stored with the same settings is reused (`core.runs.sweep.find_stored`). They are trained once, ahead
of any visitor, by `warm_story` (the warm-up step 'story', `python -m core warm`); each run's story
scores are kept in its folder (`story-scores.json`), so opening a step reads files and computes nothing
heavy.

    settings = StorySettings.from_env()            # MPNet teacher, the adapter reads MiniLM
    configs = story_configs(settings)              # 10 TrainConfigs; the first two are the side-by-side pair
    runs = find_story_runs(list_runs(runs_dir()), settings)
    runs.missing                                   # [] once warm_story has run
    quality_frame(settings, runs, {rid: story_scores(load_run(runs_dir(), rid)) for rid in runs.found.values()})

The parts: `settings` (what the story trains and its words), `runs` (its runs, found or trained once), `scores`
(each run summed up, kept in its folder), `zero` (step 4's student given no answer), `frames` (each step's table).
Their public names are re-exported here: `from core.story import StorySettings, story_scores`.
"""

from __future__ import annotations

from core.story.frames import (
    QUALITY_SCHEMA,
    STUDENT_LABELS,
    neighbours_frame,
    poison_frame,
    quality_frame,
    split_cosine_frame,
    student_label,
    zero_answer_frame,
)
from core.story.runs import (
    StoryRuns,
    describe,
    find_story_runs,
    pair_configs,
    prepare_story_data,
    step_configs,
    story_configs,
    warm_story,
)
from core.story.scores import StoryScoring, run_scores, story_scores, teacher_neighbours_frame, teacher_vectors
from core.story.settings import (
    CHEAP_ENV,
    MODEL_NAMES,
    NEW_WORDS,
    SCORES_VERSION,
    TEACHER_ENV,
    TRAINING_WORDS,
    StorySettings,
    story_vocabulary,
    story_vocabulary_label,
)
from core.story.zero import (
    ZERO_LABEL,
    ZERO_VERSION,
    stored_zero_answers,
    warm_zero_answer,
    zero_answer_folder,
    zero_answer_path,
    zero_answer_scores,
)

__all__ = [
    "CHEAP_ENV",
    "MODEL_NAMES",
    "NEW_WORDS",
    "QUALITY_SCHEMA",
    "SCORES_VERSION",
    "STUDENT_LABELS",
    "StoryRuns",
    "StoryScoring",
    "StorySettings",
    "TEACHER_ENV",
    "TRAINING_WORDS",
    "ZERO_LABEL",
    "ZERO_VERSION",
    "describe",
    "find_story_runs",
    "neighbours_frame",
    "pair_configs",
    "poison_frame",
    "prepare_story_data",
    "quality_frame",
    "run_scores",
    "split_cosine_frame",
    "step_configs",
    "stored_zero_answers",
    "story_configs",
    "story_scores",
    "story_vocabulary",
    "story_vocabulary_label",
    "student_label",
    "teacher_neighbours_frame",
    "teacher_vectors",
    "warm_story",
    "warm_zero_answer",
    "zero_answer_folder",
    "zero_answer_frame",
    "zero_answer_path",
    "zero_answer_scores",
]
