"""A package's public names, imported on first use (PEP 562 module ``__getattr__``).

``harmonise``, ``versions`` and ``analyses`` re-export their public API from the modules that
define it without importing those modules up front, so that ``import analyses`` (and
``ipdrepo --help``) stays cheap. Each package keeps a table ``public name -> defining module``
and builds its ``__getattr__`` and ``__dir__`` here::

    __getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS, __all__)

This module imports nothing but the standard library.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_exports(package: str, namespace: dict[str, Any], exports: Mapping[str, str],
                 public: Iterable[str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` of ``package``.

    ``__getattr__(name)`` imports the module ``exports[name]``, caches the value in the
    package's ``namespace`` (its ``globals()``) and returns it; an unknown name raises
    :class:`AttributeError` as Python would. ``__dir__()`` lists the namespace and ``public``.
    """
    names = frozenset(public)

    def __getattr__(name: str) -> Any:  # noqa: N807 - the module hook PEP 562 names
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:  # noqa: N807
        return sorted(set(namespace) | names)

    return __getattr__, __dir__
