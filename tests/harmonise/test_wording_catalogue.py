"""The question templates (harmonise/pipeline/wording.<language>.yaml) agree across languages."""

from __future__ import annotations

import string

from harmonise.pipeline.wording import LANGUAGES, TEMPLATES


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_language_gives_every_template_with_the_same_placeholders() -> None:
    english = TEMPLATES["en"]
    assert set(TEMPLATES) == set(LANGUAGES)
    for language in LANGUAGES:
        words = TEMPLATES[language]
        assert set(words) == set(english), (language, set(words) ^ set(english))
        wrong = {key: (_placeholders(english[key]), _placeholders(text))
                 for key, text in words.items()
                 if _placeholders(text) != _placeholders(english[key])}
        assert not wrong, (language, wrong)
        assert all(isinstance(text, str) and text.strip() for text in words.values()), language
