"""User text inside Markdown: `literal` makes a word, a file name or an error that quotes them show as typed.

Every Streamlit element that takes a string (st.write, st.markdown, st.caption, st.success / info / warning / error,
expander labels) renders it as Markdown: a word list holding `**bold**`, `$x^2$`, `[a](http://…)` or
`![](http://…)` would show bold text, KaTeX, a link, or an image the viewer's browser fetches. Lists of user text go
to st.text / st.dataframe instead; a sentence that quotes user text goes through `literal` first.

>>> literal("**bold** [a](http://x.example)")
'\\\\*\\\\*bold\\\\*\\\\* \\\\[a\\\\]\\\\(http\\\\:\\u2060//x\\\\.example\\\\)'
"""

from __future__ import annotations

import re

# Every ASCII punctuation character that Markdown, GFM, KaTeX ($) or Streamlit's directives (:red[…]) give a meaning;
# CommonMark lets any of them be escaped with a backslash.
_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>$:&=\"'])")
# GFM turns bare URLs and e-mail addresses into links after escapes are resolved, so an escape cannot stop it; an
# invisible word joiner inside "://", "www." and "@" does, and changes nothing a reader sees.
_AUTOLINK = re.compile(r"(?i)(:(?=//)|www(?=\.)|@)")


def literal(text: str) -> str:
    """`text` escaped so that Streamlit's Markdown shows it character for character."""
    text = " ".join(str(text).splitlines())  # a line break would start a new Markdown block (a heading, a list)
    return _SPECIAL.sub(r"\\\1", _AUTOLINK.sub("\\1\u2060", text))
