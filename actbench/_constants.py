"""Constants of the equivalence rule that the table format records; a module of its own so that reading a
table does not import the function language (``actbench.space`` re-exports them)."""

#: Significant bits (of float64's 53) kept when outputs are compared for equivalence.
EQUIVALENCE_BITS = 32
#: Number of sample points.
N_POINTS = 1000
