"""Tables for the optimisers researchers already use: SMAC, DEHB, syne-tune, Optuna, HPOBench-style code and
pandas (``docs/optimizers.md``).

- :class:`Objective`: the value (validation error, never NaN), cost and info of a configuration at a
  fidelity, charged to the table's budget; HPOBench's ``objective_function`` convention, SMAC's and Optuna's
  targets, DEHB's function, and a stopper that ends a run on the table's budget.
- :func:`configspace` and :func:`fidelity_space`: the functions and the epochs as ConfigSpace spaces.
- :func:`syne_tune_blackbox`: a table as a syne-tune tabular blackbox for its simulator backend, and
  :func:`syne_tune_backend`: that backend with a reproducible clock that counts the table's training time.

Each needs only its own optimiser's package, imported when first used.
"""

from actbench.base.errors import BudgetExhausted
from actbench.interop.configspace import FIDELITY, configspace, fidelity_space
from actbench.interop.objective import Evaluation, Objective

__all__ = ["FIDELITY", "BudgetExhausted", "Evaluation", "Objective", "configspace", "fidelity_space",
           "syne_tune_backend", "syne_tune_blackbox"]


def __getattr__(name: str):
    if name in ("syne_tune_backend", "syne_tune_blackbox"):
        from actbench.interop import synetune

        return getattr(synetune, name)
    raise AttributeError(f"module 'actbench.interop' has no attribute {name!r}")
