"""Data queries: raised from checks, answered by trialists, turned into corrections.

* :mod:`~harmonise.queries.lifecycle`: a query's life (raise, send, answer, resolve, close,
  reopen) and syncing queries with what the checks found
* :mod:`~harmonise.queries.workbook`, :mod:`~harmonise.queries.workbook_checks`: the query
  workbook out to a trial's team and its answers back in, checked before anything is imported
* :mod:`~harmonise.queries.answers`: accepting an answer (a resolution, and a correction)
* :mod:`~harmonise.queries.corrections`: corrections of raw cells, applied before the mapping
* :mod:`~harmonise.queries.views`, :mod:`~harmonise.queries.dashboard`: views for notebooks,
  and the query dashboard
* :mod:`~harmonise.queries.cli`: ``ipdrepo queries`` and ``ipdrepo corrections``
"""
