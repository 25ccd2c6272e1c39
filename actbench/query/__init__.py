"""The query layer: what a query answers (:class:`Record`), what it costs (:class:`Budget`), which row answers
a name (:class:`Resolver`) and what a query at an epoch reads (:class:`EpochViews`). ``ActBench`` puts them
together over one open table; the search layer uses the resolver publicly (``bench.resolver``).
"""

from actbench.query.budget import Budget
from actbench.query.epochs import EpochViews
from actbench.query.record import RECORD_FIELDS, Record, record_model
from actbench.query.resolver import Hit, Resolver

__all__ = ["RECORD_FIELDS", "Budget", "EpochViews", "Hit", "Record", "Resolver", "record_model"]
