"""The function language: operators, expressions, search spaces and the equivalence rule.

Bottom to top: :mod:`~actbench.lang.points` (the sample points and the equivalence keys: all a table
needs), :mod:`~actbench.lang.ops` (the operator registry), :mod:`~actbench.lang.expr` (parse, print and
evaluate names) and :mod:`~actbench.lang.space` (enumerate spaces and their equivalence classes). Earlier
paths (``actbench.ops``, ``actbench.expr``, ``actbench.space``) name the same modules.
"""
