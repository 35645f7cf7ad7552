"""Words a lab on a projector should not show unasked: profanity, slurs and sexual slang.

The neighbour lists (Projection, Analogies) leave these words out by default, with a switch to show them: the
closest words of an everyday word such as *man* include profanity under both bundled teachers, and a presenter's
audience did not ask for it.

Why a list of our own: no word list is installed with the lab (no `better-profanity`, `profanity-check` or
`alt-profanity-check` in the environment; the last is a scikit-learn model for sentences, not a word list), and
the lab installs nothing at run time. So this is a short, hand-kept list of English words that are offensive in
any context — profanity, slurs, sexual slang — checked against the 10,000 default words (wordfreq's most frequent).
It is not a moderation tool: it keeps a projector polite, and a word it misses is still only a word in a list.
Words that are offensive only in some senses (*ass* the animal, *cock* the bird, *dick* the name) are kept out
of it when they are common in their plain sense; their plain-sense forms are not filtered.

    >>> is_offensive("Fucking"), is_offensive("king")
    (True, False)
    >>> sorted(offensive_indices(["king", "shit", "queen", "bitches"]))
    [1, 3]
"""

from __future__ import annotations

from collections.abc import Iterable

# Stems whose every word is offensive (checked as prefixes): 'fuck' -> fucks, fucked, fucker, fucking, ...
STEMS = ("fuck", "shit", "cunt", "nigger", "nigga", "faggot", "bitch", "whore", "slut", "motherf", "wank", "twat")

# Whole words (and the plural / -ing forms listed where they are common).
WORDS = frozenset(
    {
        "arsehole",
        "asshole",
        "assholes",
        "bastard",
        "bastards",
        "bollocks",
        "boner",
        "boobs",
        "bullshit",
        "blowjob",
        "chink",
        "cocksucker",
        "cum",
        "cumshot",
        "damn",
        "dammit",
        "dildo",
        "dyke",
        "fag",
        "fags",
        "goddamn",
        "handjob",
        "jizz",
        "kike",
        "milf",
        "piss",
        "pissed",
        "porn",
        "porno",
        "pornography",
        "pussy",
        "pussies",
        "retard",
        "retarded",
        "retards",
        "scumbag",
        "spic",
        "tits",
        "titties",
        "tranny",
        "wetback",
        "xxx",
    }
)


def is_offensive(word: str) -> bool:
    """Whether `word` (any case, surrounding spaces ignored) is on the list or starts with one of its stems."""
    w = word.strip().lower()
    return w in WORDS or w.startswith(STEMS)


def offensive_indices(items: Iterable[str]) -> set[int]:
    """The positions of the offensive words in `items`: what a neighbour search skips (`core.evaluation.neighbours`)."""
    return {i for i, w in enumerate(items) if is_offensive(w)}
