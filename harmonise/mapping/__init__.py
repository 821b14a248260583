"""Per-trial mappings and the mapping engine: a raw delivery -> a harmonised trial table.

* :mod:`~harmonise.mapping.spec`: a trial's mapping (:class:`~harmonise.mapping.spec.Mapping`)
  and its loader; :mod:`~harmonise.mapping.rules`: one spec object per rule type;
  :mod:`~harmonise.mapping.rule_checks`: a mapping's rules checked against the dictionary
* :mod:`~harmonise.mapping.derivations`: the named derivations of the ``derive`` rule
* :mod:`~harmonise.mapping.source`: cached, vectorised access to a delivery's raw columns
* :mod:`~harmonise.mapping.engine`: :func:`~harmonise.mapping.engine.apply_mapping`;
  :mod:`~harmonise.mapping.harmonised`: its result, with cell-level provenance
* :mod:`~harmonise.mapping.dryrun`: checking a mapping against a delivery before harmonising
* :mod:`~harmonise.mapping.cli`: ``ipdrepo mapping``
"""
