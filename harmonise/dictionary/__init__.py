"""The topic data dictionary: what every harmonised variable is.

* :mod:`~harmonise.dictionary.spec`: the spec objects (a dictionary, its variables, outcomes,
  cross-variable rules and changelog) and their loader,
  :func:`~harmonise.dictionary.spec.load_dictionary`
* :mod:`~harmonise.dictionary.build`: building a dictionary from plain data, checking everything
* :mod:`~harmonise.dictionary.exports`: Frictionless Table Schema, a spreadsheet, an HTML page
* :mod:`~harmonise.dictionary.cli`: ``ipdrepo dictionary``
"""
