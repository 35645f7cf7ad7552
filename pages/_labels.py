"""The sentences a person who does not code reads, in one place: what each chart shows (EXPLAIN), the
names and help of the defences and kinds of poison, and the sentences built from a run's numbers.

The engine (core/) computes and returns numbers and keys ('trimmed', 'random'); the pages say them in words
from here. Chart builders (core/charts) keep their own titles and axis labels: a chart must have them.
"""

from __future__ import annotations

import polars as pl

from core.charts import selection_name
from core.runs.quality import MIN_SEEDS_FOR_VERDICT

# ---- what each chart shows: one sentence beside it (a key per chart builder of core.charts) -------------

EXPLAIN = {
    "training": (
        "Left: the training loss the student minimises (lower is better). Right: how closely the student's "
        "vectors point the same way as the teacher's, on the words it trained on and on words it never saw "
        "(1 = identical, 0 = unrelated)."
    ),
    "means": (
        "Each vector is summarised by the average of its numbers; the histogram shows how those averages are "
        "spread over the vocabulary. A student that imitates the teacher well has the same shape as the grey teacher."
    ),
    "projection": (
        "Every dot is a word, squeezed from hundreds of dimensions down to two. Teacher (circles) and student "
        "(crosses) share the same map, so a word whose two marks are close is imitated well."
    ),
    "pairs": (
        "How similar the two words of each pair are (cosine, 1 = same direction) under the teacher and under the "
        "student. A good student's bars match the teacher's."
    ),
    "compare": "Held-out cosine of each run epoch by epoch: higher means the student imitates the teacher better on words it never saw.",
    "time_vs_p": "How long each run took against the fraction p of words it trained on: the paper uses time as its measure of cost (its figures 2 and 3).",
    "pareto_heatmap": "Each cell is one run (a row: its p) after a number of epochs (a column); the colour is the score. Look for where more epochs or more data stop helping (the paper's figures 4, 7, 8 and 11).",
    "pareto_lines": "The same runs as lines: one line per p, epoch by epoch. Lines that flatten early mean more training is wasted effort.",
    "sweep_means": "The teacher's distribution of embedding means (grey) against the student's, for each p and epoch: as p and epochs grow the student should take the teacher's shape (the paper's figures 6, 10 and 12).",
    "quality_per_query": (
        "Each line is one kind of student asking the teacher about words chosen one way (colour and line style: see "
        "the legend): how good it is on words it never saw (up) against how many teacher answers it paid for (right, "
        "log scale). A line is the average of runs that differ only in their random seed; the shaded band is "
        "where that average lies with 95 % confidence, so where two bands overlap these runs cannot tell the two "
        "apart. The grey dashed line is a student that learns nothing (every new word gets the average answer); the "
        "dotted line is the ceiling: the same student given every answer but a held-out 10 %. The “0 answers” column "
        "at the left is a student given no answer at all (a log scale has no 0): a map from the cheap model's space "
        "into the teacher's, learnt without pairs, on the same vertical scale."
    ),
    "selection_differences": (
        "Each dot says how much better (above the dashed zero line) or worse (below) a way of choosing the words "
        "does than asking about random words — with the same seeds and the same teacher, so only the choice of "
        "words differs. The bar is its 95 % interval: a bar that crosses zero means these seeds cannot tell the "
        "two ways apart, however far the dot sits from it. A faint dot is such a case. A half-faint dot is "
        "tentative: its bar excludes zero, but from fewer than 3 seeds, where one lucky pair of runs does that."
    ),
    "quality_table": (
        "One row per student, way of choosing the words and p, scored on the words it never saw: the average over "
        "the seeds ± the half-width of its 95 % interval (the true average lies in that range with 95 % confidence; "
        "one seed gives no range). A student is worth its teacher answers only where its cosine beats the "
        "baseline's. Rows at p = 0.9 are the ceiling: every answer but a held-out 10 %."
    ),
    "selections_help": (
        "Which words the teacher was asked about. Random words: the paper's draw. Typical words: the most typical "
        "word of each group of similar words (TypiClust). Spread-out words: each next word the one farthest from "
        "those asked so far (k-center). Common to rare words: an even spread over how frequent the words are. Each "
        "choice reads only the cheap model's vectors or word frequencies, never a teacher answer."
    ),
    "eval_selection_button": (
        "Trains the kernel adapter (the best student; solved in one step, so fast) on 0.3 %, 1 %, 3 % and 10 % of the "
        "words, each chosen three ways (random, typical, spread-out), five seeds each, plus five runs given every "
        "answer but a held-out 10 % (the ceiling). Runs already stored are reused."
    ),
    "no_pairs": (
        "No other way of choosing the words shares a seed and a p with random words yet, so there is nothing to "
        "compare on equal terms: train the selection comparison."
    ),
    "how_few": (
        "Between two budgets the number is read off a straight line on the log scale. 'At most' means a seed was "
        "there already at the smallest budget tried; 'not reached' that it never got there within its runs. The 95 % "
        "interval is clipped to the budgets tried. With few seeds it is wide: the active-learning literature warns that a way of choosing words can look better or "
        "worse than random by chance."
    ),
    "how_few_none": "None of these runs has this score (the teacher may solve no analogy on this vocabulary): choose another.",
    "lookup_tables": (
        "Model A and Model B are lookup tables: a word the teacher never answered keeps the random vector it "
        "started with, so they cannot do better than the baseline on new words, however long they train."
    ),
    "analogy_sections": "Share of analogy questions answered right, per section of the Google set, by the teacher and by the student.",
    "loss_histogram": (
        "Each bar counts training answers by how badly the trained student fits them (its loss: 0 = perfect, 1 = unrelated, "
        "2 = opposite), red for the answers the lab poisoned, grey for honest ones. Where the red sits apart from the grey, "
        "the loss gives the poison away; the dashed line is where answers start to count as suspicious."
    ),
    "claim_loss": (
        "Each square is one run (a value of p, up) after some epochs (right), coloured by its training loss — the paper's "
        "measure: brighter is a lower loss. One panel has 10 % of the answers poisoned, the other none (see the panel titles)."
    ),
    "claim_heldout": (
        "The same runs, coloured by how closely the student's vectors of words it never saw match the teacher's "
        "(brighter is better). If the training loss told the whole story, these panels would look like the ones above."
    ),
    "damage_vs_rate": (
        "How good the student stays on words it never saw (up) as more of the teacher's answers are poisoned (right). "
        "Colour is the kind of poison, the line style the defence. Flat lines mean the student shrugs the poison off."
    ),
    "adapter_curves": (
        "The adapter's loss on the texts it trains on (left, lower is better) and how closely its vectors of texts it never "
        "saw point the same way as the teacher's (right, 1 = identical). The dashed line is a student that answers the "
        "average vector for every text."
    ),
    "adapter_tradeoff": (
        "Each point is a way to get embeddings: right is slower (milliseconds per 1,000 texts, log scale), up is closer to "
        "the teacher on texts the adapter never saw. The teacher sits at 1 by definition; a good adapter sits high and far left."
    ),
}

# ---- poisoning: the defences and the kinds of poison ------------------------------------------------------

DEFENCE_LABELS = {
    "none": "No defence (the paper's)",
    "trimmed": "Trimmed loss",
    "small-loss": "Small-loss selection",
    "robust": "Robust (bounded) loss",
}
DEFENCE_HELP = {
    "none": "Every teacher answer counts the same, poisoned or not.",
    "trimmed": "After each epoch, the answers the student fits worst are left out of the next epoch.",
    "small-loss": "In every batch only the answers the student already fits best are used; the share skipped grows over the first epochs.",
    "robust": "A loss that stops growing for answers far from the student's prediction, so a wrong answer can only pull so hard.",
}
ADVERSARY_HELP = {
    "random": "A random direction (the paper's)",
    "swap": "Another word's true answer",
    "negate": "The true answer turned around",
    "noise": "The true answer plus strong noise",
    "concentrated": "One shared direction for all (coordinated)",
}


def defences_help() -> str:
    """Every defence's name and what it does, for a widget's help."""
    return " ".join(f"{DEFENCE_LABELS[d]}: {DEFENCE_HELP[d]}" for d in DEFENCE_LABELS)


def with_defence_labels(frame: pl.DataFrame) -> pl.DataFrame:
    """A frame whose `defence` column holds keys ('none', 'trimmed', ...), with their names instead (display)."""
    return frame.with_columns(pl.col("defence").replace_strict(DEFENCE_LABELS, default=pl.col("defence")))


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def detection_sentence(summary: dict) -> str:
    """A run summary's detection and defence figures (core.poisoning.lab.detection_summary, or a training's
    summary) in one or two plain sentences."""
    text = (
        f"Judged by their loss, {summary['detection_flagged']:,} of {summary['train_size']:,} training answers look poisoned "
        f"({summary['poisoned_in_train']:,} really are): precision {_pct(summary.get('detection_precision'))} (share of the "
        f"suspects that were poisoned), recall {_pct(summary.get('detection_recall'))} (share of the poison found)."
    )
    if summary.get("defence_left_out") is not None:
        text += (
            f" The {DEFENCE_LABELS[summary['defence']].lower()} defence left out {summary['defence_left_out']:,} answers, "
            f"{_pct(summary.get('defence_recall'))} of the poison, with precision {_pct(summary.get('defence_precision'))}."
        )
    return text


# ---- the paper's claim, re-tested (core.poisoning.poison.retest_paper_claim's numbers in words) ------------


def _f(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def claim_verdict(check) -> str:
    """A `ClaimCheck` in plain sentences: the training loss at the paper's point against its neighbours, the
    held-out cosine beside the clean run and the learn-nothing student, the best poisoned run, and the verdict."""
    where = f"p = {check.p:g} after {check.epoch} epochs with {check.rate:.0%} poison"
    around = " and ".join(
        f"{_f(v)} at p = {q:g}" for v, q in zip(check.loss_neighbours, check.neighbour_ps) if v is not None
    )
    if check.local_minimum:
        parts = [
            f"Training loss: at {where} it is {_f(check.loss_here)}, lower than its neighbours ({around}) — the "
            "paper's local minimum is there."
        ]
    else:
        parts = [
            f"Training loss: at {where} it is {_f(check.loss_here)}, not lower than its neighbours "
            f"({around or 'none in this grid'}) — the paper's local minimum does not appear here."
        ]
    held_poisoned, held_clean, baseline = check.heldout_poisoned, check.heldout_clean, check.baseline
    if held_poisoned is not None:
        held = f"On words the student never saw, the same run scores a cosine of {_f(held_poisoned)} to the teacher"
        extras = []
        if held_clean is not None:
            extras.append(f"the clean run: {_f(held_clean)}")
        if baseline is not None:
            extras.append(f"a student that learns nothing: {_f(baseline)}")
        parts.append(held + (f" ({'; '.join(extras)})." if extras else "."))
    if check.best_heldout is not None:
        cosine, p, epoch = check.best_heldout
        parts.append(
            f"The best held-out cosine of any poisoned run in the grid is {cosine:.3f} (p = {p:g}, epoch {epoch})."
        )
    kind = check.verdict_kind
    if kind == "no held-out words":
        verdict = "Verdict: this p trains on every word, so there are no held-out words to re-test the claim on."
    elif kind == "no better than learning nothing":
        both = held_clean is not None and baseline is not None and held_clean <= baseline + 0.01
        verdict = (
            "Verdict: whatever the training loss does, this is not robustness one can use — on new words the poisoned "
            "student is no better than one that learns nothing" + (", and neither is the clean one." if both else ".")
        )
    elif kind == "holds":
        verdict = (
            f"Verdict: the claim holds on held-out words — the poisoned run keeps {held_poisoned / held_clean:.0%} of "
            "the clean run's quality"
            + (" and the loss does dip there." if check.local_minimum else ", though without the loss dip.")
        )
    else:
        share = "" if held_clean in (None, 0) else f" ({held_poisoned / held_clean:.0%} of the clean run)"
        verdict = f"Verdict: the poison costs real quality on held-out words{share}; the training loss hides it."
    parts.append(verdict)
    return " ".join(parts)


# ---- quality per teacher query, over seeds (core.runs.quality's numbers in words) ---------------------------


CEILING_WORDS = "Every answer but 10 % (the ceiling)"  # the ceiling's runs in a table of ways to choose words

# What "X % of the teacher's ..." can be about (core.runs.quality.TEACHER_SCORE: a metric with a known teacher score).
TARGET_NOUNS = {
    "analogy_pct_of_teacher": "analogies",
    "heldout_cosine": "cosine",
    "neighbour_overlap_at_10": "nearest neighbours",
}
TARGET_CHOICES = {  # the same, as the choices of a list
    "analogy_pct_of_teacher": "Analogies solved",
    "heldout_cosine": "Cosine to the teacher (its own is 1)",
    "neighbour_overlap_at_10": "Nearest neighbours shared with the teacher",
}


def score_text(metric: str, value: float | None) -> str:
    """A score as the page writes it: analogies as a % of the teacher and neighbours (of 10) with one decimal,
    the rest with three."""
    if value is None:
        return "—"
    if metric == "analogy_pct_of_teacher":
        return f"{value:.1f} %"
    return f"{value:.1f}" if metric == "neighbours_of_10" else f"{value:.3f}"


def _gap_text(metric: str, value: float, half: float | None = None) -> str:
    """A difference between two scores without its sign, with its ± when given: analogies in percentage points."""
    number = ".1f" if metric == "analogy_pct_of_teacher" else ".3f"
    unit = " points" if metric == "analogy_pct_of_teacher" else ""
    return f"{abs(value):{number}}" + ("" if half is None else f" ± {half:{number}}") + unit


def _and(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def plus_minus(metric: str, mean: float | None, half: float | None, n: int | None, seeds: int | None = None) -> str:
    """A mean over seeds with its 95 % half-width: "0.712 ± 0.014"; one seed: "0.712 (one seed)"; the seeds said
    only when they are not the row's `seeds` (a score that could not be computed on every seed)."""
    if mean is None:
        return "—"
    if not n or n < 2 or half is None:
        return f"{score_text(metric, mean)} (one seed)"
    unit = " %" if metric == "analogy_pct_of_teacher" else ""
    number = ".1f" if metric in ("analogy_pct_of_teacher", "neighbours_of_10") else ".3f"
    text = f"{mean:{number}} ± {half:{number}}{unit}"
    return text if seeds is None or n == seeds else f"{text} ({n} seeds)"


def _seeds(ns) -> str:
    low, high = min(ns), max(ns)
    return f"{low} seed{'s' * (low != 1)}" if low == high else f"{low}–{high} seeds"


def difference_sentence(rows: list[dict], metric: str, student: str | None = None) -> str:
    """One strategy against random (`core.runs.quality.paired_differences`' rows of one student and selection,
    any order) in one or two plain sentences: where the 95 % interval excludes 0, "a real difference" ("a tentative
    difference (fewer than 3 seeds)" when the row is `tentative`); where it holds 0, "within the noise: not
    distinguishable with these seeds"."""
    rows = sorted(rows, key=lambda r: r["queries"])
    name = selection_name(rows[0]["selection"])
    who = f"{student}: " if student else ""
    if all(r["n"] < 2 for r in rows):
        return (
            f"{who}{name} and random words share only one seed at each budget: no interval, so no verdict yet. "
            "Train more seeds to compare them."
        )
    real = [r for r in rows if r["distinguishable"]]
    noisy = [r for r in rows if not r["distinguishable"]]
    if not real:
        widest = max(rows, key=lambda r: abs(r["mean"]))
        sign = "+" if widest["mean"] >= 0 else "−"
        return (
            f"{who}{name} against random words: within the noise of {_seeds([r['n'] for r in rows])} at every budget "
            f"(the largest gap, {sign}{_gap_text(metric, widest['mean'], widest['half_width'] or 0)} "
            f"at {widest['queries']:,} answers): not distinguishable with these seeds."
        )

    def gaps(group: list[dict]) -> str:
        items = [f"{_gap_text(metric, r['mean'], r['half_width'])} at {r['queries']:,}" for r in group]
        return _and(items) + " answers"

    beats, trails = [r for r in real if r["mean"] > 0], [r for r in real if r["mean"] < 0]
    found = ([f"beat random by {gaps(beats)}"] if beats else []) + (
        [f"trail random by {gaps(trails)}"] if trails else []
    )
    tentative = [r for r in real if r.get("tentative")]
    if len(tentative) == len(real):
        verdict = (
            "a tentative difference" if len(real) == 1 else "tentative differences"
        ) + f" (fewer than {MIN_SEEDS_FOR_VERDICT} seeds)"
    else:
        verdict = "a real difference" if len(real) == 1 else "real differences"
        if tentative:
            budgets = _and([f"{r['queries']:,}" for r in tentative])
            verdict += f"; at {budgets} answers a tentative difference (fewer than {MIN_SEEDS_FOR_VERDICT} seeds)"
    text = f"{who}{name} {' but '.join(found)} ({_seeds([r['n'] for r in real])}): {verdict}."
    if noisy:
        budgets = _and([f"{r['queries']:,}" for r in noisy])
        text += (
            f" At {budgets} answers the two are within the noise of {_seeds([r['n'] for r in noisy])}: "
            "not distinguishable."
        )
    return text


def target_words(metric: str, target: float, threshold: float) -> str:
    """What reaching `target` % of the teacher means on a metric, in words."""
    if metric == "analogy_pct_of_teacher":
        return f"{target:g} % of the teacher's analogy score"
    if metric == "neighbour_overlap_at_10":
        return f"{threshold * 10:.1f} of the teacher's 10 nearest neighbours ({target:g} % of the teacher)"
    return f"a cosine of {threshold:.2f} to the teacher ({target:g} % of the teacher's own 1.0)"


def queries_sentence(row: dict, metric: str, ceiling: float | None = None) -> str:
    """`core.runs.quality.queries_for`'s row (one student and selection) as a plain sentence: how many teacher
    answers it took to reach the target, over seeds, with its 95 % interval (lower to upper; None: one seed) and what
    the runs cannot say."""
    who = f"**{row['student']}, {selection_name(row['selection']).lower()}**"
    seeds, reached = row["seeds"], row["reached"]
    of_seeds = f"{seeds} seed{'s' * (seeds != 1)}"
    if reached == 0:
        text = f"not reached within {row['largest']:,} answers by {'its one seed' if seeds == 1 else f'any of its {of_seeds}'}"
        if ceiling is not None and ceiling < row["threshold"]:
            text += f" — even its ceiling (every answer but 10 %) stays below, at {score_text(metric, ceiling)}"
        return f"{who}: {text}."
    if row["at_most"] == reached == seeds:
        return (
            f"{who}: at most {row['smallest']:,} answers — {'its seed is' if seeds == 1 else f'all {of_seeds} are'} "
            "there already at the smallest budget tried, so fewer may do."
        )
    if row.get("lower") is None:
        text = f"about {row['mean']:,.0f} answers (one seed got there: no interval)"
    else:  # a 95 % interval on log(answers), clipped to the budgets tried: never a "±" reaching below 0 answers
        clip = ", clipped to the budgets tried" if row.get("clipped") else ""
        text = (
            f"about {row['mean']:,.0f} answers (95 % interval {row['lower']:,.0f} to {row['upper']:,.0f}{clip}; "
            f"{reached} of {of_seeds} got there)"
        )
    if row["not_reached"]:
        text += (
            f"; {row['not_reached']} did not within {row['largest']:,} answers, so the true number is likely higher "
            "than this average of the seeds that did"
        )
    if row["at_most"]:
        text += f"; {row['at_most']} {'was' if row['at_most'] == 1 else 'were'} there already at {row['smallest']:,}, so fewer may do"
    return f"{who}: {text}."
