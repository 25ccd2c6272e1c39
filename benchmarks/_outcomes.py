"""What the hostile-input scripts share: their table of outcomes, as Markdown (docs/reliability.md)."""

from __future__ import annotations

import collections


def print_outcomes(table: dict[str, collections.Counter], kinds: list[str], *, first: str) -> None:
    """One row per way of attack, one column per outcome, and the totals."""
    print(f"| {first} | " + " | ".join(kinds) + " |")
    print("|---|" + "---|" * len(kinds))
    for way, c in table.items():
        print(f"| {way} | " + " | ".join(str(c[k]) for k in kinds) + " |")
    total = sum(table.values(), collections.Counter())
    print("| **all** | " + " | ".join(f"**{total[k]}**" for k in kinds) + " |")
