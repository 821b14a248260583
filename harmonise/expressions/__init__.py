"""The safe expression language of mapping rules and dictionary cross-variable rules.

* :mod:`~harmonise.expressions.language`: parsing an expression into a checked tree of
  whitelisted nodes (:class:`~harmonise.expressions.language.Expression`), its limits, and
  rendering it back to text
* :mod:`~harmonise.expressions.functions`: the functions, one registry: each declared once with
  its arity, its static type rule, the checks of its literal arguments and its evaluator
* :mod:`~harmonise.expressions.kinds`: static kinds and type clashes, before any data
* :mod:`~harmonise.expressions.evaluation`: evaluating a parsed expression over the rows of a
  delivery, vectorised, with every failing row kept; :mod:`~harmonise.expressions.coercion`:
  the values it computes with; :mod:`~harmonise.expressions.literals`: constants and literals
"""
