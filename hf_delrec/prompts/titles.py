"""Title normalisation: MovieLens-style trailing articles are moved to the front.

    "Godfather, The (1972)"                                  -> "The Godfather (1972)"
    "City of Lost Children, The (Cité des enfants perdus, La) (1995)"
                                                             -> "The City of Lost Children (La Cité des enfants perdus) (1995)"
    "Avventura, L' (1960)"                                   -> "L'Avventura (1960)"

Only a known article after the *last* comma of a title part is moved, so ordinary commas ("Sense and Sensibility,
Part 2") are untouched. Trailing parenthesised groups (year, alternative title) are kept in place and normalised too.
"""

from __future__ import annotations

import re

# English, French, Spanish, Italian, German, Portuguese, Scandinavian articles seen in catalogue titles.
ARTICLES = (
    "The", "A", "An", "Les", "La", "Le", "L'", "Il", "Lo", "Gli", "Das", "Der", "Die", "Den", "Det", "El", "Los",
    "Las", "Un", "Une", "Uno", "Una", "Des", "Os", "As", "Ein", "Eine",
)
_ARTICLE_RE = re.compile(r"^(?P<body>.*\S), (?P<article>" + "|".join(re.escape(a) for a in ARTICLES) + r")$")


def _split_trailing_groups(title: str) -> tuple[str, list[str]]:
    """Peel balanced trailing ``(...)`` groups off ``title``: returns (head, [group contents, left to right])."""
    groups: list[str] = []
    s = title.rstrip()
    while s.endswith(")"):
        depth = 0
        for i in range(len(s) - 1, -1, -1):
            if s[i] == ")":
                depth += 1
            elif s[i] == "(":
                depth -= 1
                if depth == 0:
                    break
        else:
            break  # unbalanced: leave as is
        if i == 0:
            break  # the whole title is one parenthesised group
        groups.insert(0, s[i + 1 : -1])
        s = s[:i].rstrip()
    return s, groups


def _move_article(text: str) -> str:
    m = _ARTICLE_RE.match(text)
    if not m:
        return text
    article = m.group("article")
    sep = "" if article.endswith("'") else " "
    return f"{article}{sep}{m.group('body')}"


def normalize_title(title: str) -> str:
    """Move a trailing ", The"/", A"/", Les"... to the front of the title and of its parenthesised alternatives."""
    if not title:
        return title
    head, groups = _split_trailing_groups(title.strip())
    out = _move_article(head)
    for g in groups:
        out += f" ({_move_article(g)})"
    return out


__all__ = ["normalize_title", "ARTICLES"]
