"""Analysis of tables: features, distances and embeddings (:mod:`~actbench.analysis.features`), surrogate
regressors (:mod:`~actbench.analysis.surrogate`), agreement of two tables (:mod:`~actbench.analysis.compare`)
and plotting helpers (:mod:`~actbench.analysis.plot`). Free: nothing here is charged to a budget.
"""
