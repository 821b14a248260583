"""The harmonisation pipeline on a workspace, and what it writes and explains.

* :mod:`~harmonise.pipeline.harmonising`: one trial's delivery + mapping + corrections ->
  ``harmonised/<TRIAL>.parquet``; all trials pooled
* :mod:`~harmonise.pipeline.checking`: validation and integrity checks -> findings -> data
  queries
* :mod:`~harmonise.pipeline.reports`, :mod:`~harmonise.pipeline.followup_plot`: the HTML
  reports (one per trial, a topic overview) and their follow-up plot
* :mod:`~harmonise.pipeline.provenance`: why one harmonised value is what it is
* :mod:`~harmonise.pipeline.cli`: ``ipdrepo harmonise``, ``validate``, ``report``, ``explain``
"""
