"""The optional parts of ipdrepo, and a clear error when one is needed but not installed.

``pip install ipdrepo`` installs the library and the CLI; the heavier parts some users never
need are extras (``pyproject.toml`` ``[project.optional-dependencies]``):

========  =====================  ===================================================
extra     installs               needed for
========  =====================  ===================================================
``lab``   jupyterlab             ``ipdrepo lab`` (JupyterLab on a workspace)
``s3``    dvc-s3                 release remotes on S3 (``s3://bucket/path``)
========  =====================  ===================================================

``python3 dev.py setup`` (and so the README's ``dev.py demo`` / ``dev.py test``) installs every
extra. Code that needs an extra calls :func:`require_extra` first, so a missing part is an
``error:`` naming the extra to install, not an ImportError deep inside a command.
"""

from __future__ import annotations

import importlib.util

from repository.errors import ConfigError

__all__ = ["EXTRAS", "require_extra"]

#: extra -> (module it provides, what it is for)
EXTRAS: dict[str, tuple[str, str]] = {
    "lab": ("jupyterlab", "JupyterLab (ipdrepo lab)"),
    "s3": ("dvc_s3", "DVC remotes on S3"),
}


def require_extra(extra: str, *, needed_for: str) -> None:
    """Raise :class:`ConfigError` unless the module of ``extra`` can be imported."""
    module, label = EXTRAS[extra]
    if importlib.util.find_spec(module) is None:
        raise ConfigError(
            f"{needed_for} needs {label}, an optional part of ipdrepo that is not installed; "
            f"install it with `pip install 'ipdrepo[{extra}]'` (`python3 dev.py setup` installs "
            "every optional part).", extra=extra, module=module)
