"""The safe expression language of mapping rules and dictionary cross-variable rules.

* :mod:`~harmonise.expressions.language`: parsing an expression into a checked tree of
  whitelisted nodes (:class:`~harmonise.expressions.language.Expression`), its static kinds,
  its limits, and rendering it back to text
* :mod:`~harmonise.expressions.evaluation`: evaluating a parsed expression over the rows of a
  delivery, vectorised, with every failing row kept
"""
