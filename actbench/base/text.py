"""Words for messages: "did you mean", counts with their nouns, and close matches among many choices.

The bottom of the package: it imports nothing of actbench, so that every layer can phrase its errors alike.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["Suggester", "clip", "did_you_mean", "listing", "mask_url", "plural", "printable"]


def did_you_mean(word: str, choices: Iterable[str] | Suggester, *, n: int = 3) -> str:
    """Return ``" (did you mean 'a', 'b'?)"`` for the closest choices, or ``""``.

    Over more than a few hundred choices a :class:`Suggester` picks candidates first (pass one that is
    kept, as ``ActBench`` does, to pay its set-up once), so a miss costs milliseconds, not a difflib scan."""
    sugg = choices if isinstance(choices, Suggester) else None
    if sugg is None:
        choices = list(choices)
        if len(choices) > _DIRECT:
            sugg = Suggester(choices)
    if sugg is not None:
        exact = sugg.lowered.get(word.lower())
        close = [exact] if exact is not None and exact != word else sugg.suggest(word, n=n)
    else:
        lowered = {c.lower(): c for c in choices}
        if word.lower() in lowered and word not in choices:
            return f" (did you mean {lowered[word.lower()]!r}?)"
        import difflib  # imported on the first miss, not with the package

        close = difflib.get_close_matches(word, choices, n=n, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + ", ".join(repr(c) for c in close) + "?)"


_DIRECT = 200  # up to this many choices difflib scans them all (well under a millisecond)


class Suggester:
    """Close matches among many choices in milliseconds.

    A length window and the number of shared character pairs (counted with numpy over a flat index of every
    choice's pairs) pick at most ``pool`` candidates; difflib ranks those with its usual ratio (cutoff 0.6),
    so the answers are difflib's whenever the best matches share the most character pairs with the word,
    which is the case for typos of function names.
    """

    def __init__(self, choices: Iterable[str], *, pool: int = 16) -> None:
        import numpy as np

        self.choices = list(choices)
        self.pool = pool
        self.lowered = {c.lower(): c for c in self.choices}
        self._vocab: dict[str, int] = {}
        ids, owner = [], []
        for i, c in enumerate(self.choices):
            for pair in set(map(str.__add__, c, c[1:])):
                ids.append(self._vocab.setdefault(pair, len(self._vocab)))
                owner.append(i)
        self._ids = np.asarray(ids, dtype=np.int32)  # (n_pairs,) pair id, one entry per (choice, distinct pair)
        self._owner = np.asarray(owner, dtype=np.int32)  # (n_pairs,) the choice it belongs to
        self._lengths = np.fromiter(map(len, self.choices), dtype=np.int64, count=len(self.choices))

    def suggest(self, word: str, *, n: int = 3) -> list[str]:
        import numpy as np

        known = [self._vocab[p] for p in set(map(str.__add__, word, word[1:])) if p in self._vocab]
        if not self.choices:
            return []
        hits = self._owner[np.isin(self._ids, known)] if known else self._owner[:0]
        score = np.bincount(hits, minlength=len(self.choices)).astype(np.float64)
        score[np.abs(self._lengths - len(word)) > max(3, len(word) // 2)] = -1.0
        top = np.argsort(-score, kind="stable")[: self.pool]
        candidates = [self.choices[i] for i in top if score[i] >= 0]
        import difflib

        return difflib.get_close_matches(word, candidates, n=n, cutoff=0.6)


def plural(n: int, word: str, many: str | None = None) -> str:
    """``"1 row"``, ``"2,913 rows"``: a count with its noun in the right number (``many`` for irregular ones)."""
    if n == 1:
        return f"1 {word}"
    if many is None:
        many = word + ("es" if word.endswith(("s", "x", "ch", "sh")) else "s")
    return f"{n:,} {many}"


def clip(text: str, n: int = 80) -> str:
    """``text`` itself when short, else its first ``n`` characters and how many more: what a message quotes of
    a name or value from a file is bounded, whatever the file holds."""
    text = str(text)
    return text if len(text) <= n else f"{text[:n]}... ({len(text) - n:,} more characters)"


def listing(items, n: int = 5) -> str:
    """At most ``n`` items, quoted and clipped, and how many more: ``'a', 'b', ... (99,998 more)``."""
    items = list(items)
    shown = ", ".join(repr(clip(i, 60)) for i in items[:n])
    return shown + (f", ... ({len(items) - n:,} more)" if len(items) > n else "")


_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}
_CONTROL_KEEP_LINES = {c: v for c, v in _CONTROL.items() if c not in (0x0A, 0x09)}


def printable(text: str, *, lines: bool = False) -> str:
    """``text`` with control characters shown escaped (``\\x1b``, ``\\n``), so that a name from a file or an
    argument can neither move the cursor, colour the terminal nor spoof a line of output; ``lines`` keeps
    newlines and tabs (a message of several lines whose parts are escaped already)."""
    return str(text).translate(_CONTROL_KEEP_LINES if lines else _CONTROL)


def mask_url(text: str) -> str:
    """``text`` with the credentials of every URL in it masked: the password (``postgresql://user:***@host/db``),
    or a user name given alone, which is often a token (``https://***@host/``). Messages, logs and provenance
    never show credentials."""
    import re

    def hide(m: re.Match) -> str:
        user, password = m["user"], m["password"]
        return f"{m['scheme']}{user}:***@" if password is not None else f"{m['scheme']}***@"

    return re.sub(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/\s:@]*)(?::(?P<password>[^/\s@]*))?@", hide,
                  str(text))
