"""Checks of harmonised data: per participant (validation) and per trial (integrity).

* :mod:`~harmonise.checks.validation`: the dictionary's checks, compiled to vectorised column
  operations (:mod:`~harmonise.checks.compiled`; also as a Pandera schema), every failure kept
* :mod:`~harmonise.checks.integrity`: the trial-integrity checks (PRISMA-IPD A1), and the
  reverse Kaplan-Meier follow-up they judge; they share each trial's columns extracted once
  (:mod:`~harmonise.checks.columns`) and compute their tests with
  :mod:`~harmonise.checks.statistics` and :mod:`~harmonise.checks.distributions`

Checks only find; :mod:`harmonise.pipeline.checking` turns what they find into data queries.
"""
