"""Raw cell values and what can go wrong with them: the ground floor of harmonise.

* :mod:`~harmonise.values.cells`: canonical text, numbers and booleans read from delivered
  cells, vectorised over distinct values; typed arrays for missing and filled columns
* :mod:`~harmonise.values.dates`: parsing delivered dates (explicit formats) and date arithmetic
* :mod:`~harmonise.values.units`: units of measurement and conversions between them
* :mod:`~harmonise.values.reasons`: the registry of reasons harmonise's errors carry
* :mod:`~harmonise.values.problems`: cell-level problems
  (:class:`~harmonise.values.problems.Issue`, the reasons, the columns of a problems table)

Nothing here knows about dictionaries, mappings or the store.
"""
