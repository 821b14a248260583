"""Harmonisation: topic dictionaries, per-trial mappings and the mapping engine.

Specs (YAML -> frozen objects): :func:`load_dictionary` -> :class:`Dictionary`;
:func:`load_mapping` -> :class:`Mapping` (one rule per dictionary variable).
Engine: :func:`apply_mapping` (raw delivery -> :class:`HarmonisedTrial`), :func:`check_mapping`
(the dry run). Formats: docs/dictionary-format.md and docs/mapping-format.md.
"""

from harmonise.dictionary.exports import to_frictionless, to_html, write_xlsx
from harmonise.dictionary.spec import (
    Category,
    ChangelogEntry,
    CrossRule,
    Dictionary,
    Outcome,
    Range,
    Variable,
    load_dictionary,
)
from harmonise.expressions.language import Expression, parse_expression
from harmonise.mapping.dryrun import CheckProblem, MappingCheck, check_mapping
from harmonise.mapping.engine import apply_mapping
from harmonise.mapping.harmonised import Explanation, HarmonisedTrial
from harmonise.mapping.spec import (
    RULE_TYPES,
    Case,
    CaseWhen,
    Constant,
    DateParse,
    Derive,
    Direct,
    IdCreation,
    Impossible,
    Mapping,
    Operation,
    Recode,
    Rule,
    Source,
    Undetermined,
    UnitConversion,
    load_mapping,
    mapping_path,
)
from harmonise.values.problems import PROBLEM_COLUMNS, REASONS
from harmonise.values.units import conversion

__all__ = [
    # dictionary
    "Dictionary",
    "Variable",
    "Category",
    "Range",
    "Outcome",
    "CrossRule",
    "ChangelogEntry",
    "load_dictionary",
    # mapping
    "Mapping",
    "Source",
    "Rule",
    "RULE_TYPES",
    "IdCreation",
    "Direct",
    "Recode",
    "Case",
    "CaseWhen",
    "Operation",
    "UnitConversion",
    "DateParse",
    "Derive",
    "Constant",
    "Impossible",
    "Undetermined",
    "load_mapping",
    "mapping_path",
    # engine
    "apply_mapping",
    "HarmonisedTrial",
    "Explanation",
    "PROBLEM_COLUMNS",
    "REASONS",
    "check_mapping",
    "MappingCheck",
    "CheckProblem",
    # building blocks
    "Expression",
    "parse_expression",
    "conversion",
    "to_frictionless",
    "write_xlsx",
    "to_html",
]
