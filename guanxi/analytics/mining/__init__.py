"""Pure mining algorithms of the analytical CRM: polars frames in, frames (or small dataclasses) out.

No Django here, so the same functions can run in a job, a notebook or, for the largest tenants, next to Spark.
Modules: ``baskets`` (association rules, cross-sell), ``sequences`` (sequential patterns, next purchase),
``clusters`` (customer clusters with a concept description), ``churn`` (churn model), ``clv`` (BG/NBD,
Gamma-Gamma, lifetime value). Functions that return a frame take an optional ``messages`` list and append to it,
in words, what they excluded or could not compute; only a frame without the required columns raises
(``MiningInputError``).
"""

from ._common import MiningInputError

__all__ = ["MiningInputError"]
