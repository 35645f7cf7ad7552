"""How the pages name the query selections and the cheap models (one wording for Train, Sweep and the cards)."""

from core.config import SELECTIONS

SELECTION_LABELS = {
    "random": "At random (the paper's)",
    "typical": "Typical words of each group (TypiClust)",
    "kcenter": "Words far apart from each other (k-center)",
    "frequency": "Spread over common and rare words",
}
assert set(SELECTION_LABELS) == set(SELECTIONS), "every query selection needs a label"

SELECTION_HELP = (
    "Which words the teacher is asked about. The paper draws them at random. The others choose before paying, "
    "from what the student can read for free: the cheap model's vectors of the words (typical, far apart) or how "
    "common each word is (spread). They never look at a teacher answer. Choosing helps most when the teacher is "
    "asked about few words; compare over several seeds (Sweep), one seed can flatter any strategy."
)

CHEAP_LABELS = {
    "static": "Static word table from MiniLM (almost free)",
    "static-mpnet": "Static word table from MPNet (almost free)",
    "minilm": "MiniLM (small encoder)",
    "mpnet": "MPNet (large encoder)",
}
