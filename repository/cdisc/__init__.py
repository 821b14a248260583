"""CDISC deliveries: SDTM and ADaM datasets (SAS transport files) with their define.xml.

* :mod:`~repository.cdisc.define`: Define-XML 1.0 / 2.0 / 2.1 -> datasets, variables, codelists
* :mod:`~repository.cdisc.domains`: the conventions of SDTM and ADaM datasets: which are
  subject-level, which are long and their row keys, trial-level datasets, SUPPxx qualifiers
  pivoted onto their parent domain
"""

from repository.cdisc.define import Define, read_define

__all__ = ["Define", "read_define"]
