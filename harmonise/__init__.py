"""Harmonisation: topic dictionaries, per-trial mappings and the mapping engine.

Specs (YAML -> frozen objects): :func:`load_dictionary` -> :class:`Dictionary`;
:func:`load_mapping` -> :class:`Mapping` (one rule per dictionary variable).
Engine: :func:`apply_mapping` (raw delivery -> :class:`HarmonisedTrial`), :func:`check_mapping`
(the dry run). Formats: docs/dictionary-format.md and docs/mapping-format.md.
"""

from typing import TYPE_CHECKING

from repository.lazy import lazy_exports

#: public name -> module that defines it (imported on first use: `import harmonise` is cheap)
_EXPORTS: dict[str, str] = {
    "Case": "harmonise.mapping.rules",
    "CaseWhen": "harmonise.mapping.rules",
    "Category": "harmonise.dictionary.spec",
    "ChangelogEntry": "harmonise.dictionary.spec",
    "CheckProblem": "harmonise.mapping.dryrun",
    "Constant": "harmonise.mapping.rules",
    "CrossRule": "harmonise.dictionary.spec",
    "DateParse": "harmonise.mapping.rules",
    "Derive": "harmonise.mapping.rules",
    "Dictionary": "harmonise.dictionary.spec",
    "Direct": "harmonise.mapping.rules",
    "Explanation": "harmonise.mapping.harmonised",
    "Expression": "harmonise.expressions.language",
    "HarmonisedTrial": "harmonise.mapping.harmonised",
    "IdCreation": "harmonise.mapping.rules",
    "Impossible": "harmonise.mapping.rules",
    "Mapping": "harmonise.mapping.spec",
    "MappingCheck": "harmonise.mapping.dryrun",
    "Operation": "harmonise.mapping.rules",
    "Outcome": "harmonise.dictionary.spec",
    "PROBLEM_COLUMNS": "harmonise.values.problems",
    "REASONS": "harmonise.values.problems",
    "RULE_TYPES": "harmonise.mapping.spec",
    "Range": "harmonise.dictionary.spec",
    "Recode": "harmonise.mapping.rules",
    "Rule": "harmonise.mapping.spec",
    "Source": "harmonise.mapping.spec",
    "Undetermined": "harmonise.mapping.rules",
    "UnitConversion": "harmonise.mapping.rules",
    "Variable": "harmonise.dictionary.spec",
    "apply_mapping": "harmonise.mapping.engine",
    "check_mapping": "harmonise.mapping.dryrun",
    "conversion": "harmonise.values.units",
    "load_dictionary": "harmonise.dictionary.spec",
    "load_mapping": "harmonise.mapping.spec",
    "mapping_path": "harmonise.mapping.spec",
    "parse_expression": "harmonise.expressions.language",
    "to_frictionless": "harmonise.dictionary.exports",
    "to_html": "harmonise.dictionary.exports",
    "write_xlsx": "harmonise.dictionary.exports",
}

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


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS, __all__)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
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
    from harmonise.mapping.rules import (
        Case,
        CaseWhen,
        Constant,
        DateParse,
        Derive,
        Direct,
        IdCreation,
        Impossible,
        Operation,
        Recode,
        Undetermined,
        UnitConversion,
    )
    from harmonise.mapping.spec import (
        RULE_TYPES,
        Mapping,
        Rule,
        Source,
        load_mapping,
        mapping_path,
    )
    from harmonise.values.problems import PROBLEM_COLUMNS, REASONS
    from harmonise.values.units import conversion
