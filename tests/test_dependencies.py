"""Declared dependencies and the code agree: every runtime dependency of pyproject.toml is used
by the package, every third-party import of the package is declared, every declared package is
pinned in constraints.txt, a missing optional part is a clear error, and dev.py installs every
optional part (so the README's two commands install everything)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("repository", "harmonise", "versions", "analyses")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

#: declared distributions the code uses without an ``import`` statement naming them, with the
#: string in the code that proves the use
USED_WITHOUT_IMPORT = {
    "psycopg": ("repository/settings.py", "postgresql+psycopg"),   # SQLAlchemy's driver
    "jupyterlab": ("repository/cli/lab_cmds.py", '"-m", "jupyterlab"'),  # run as a module
    "dvc-s3": ("repository/extras.py", '"dvc_s3"'),                # DVC's plugin for s3://
}


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _declared(group: str | None) -> set[str]:
    project = PYPROJECT["project"]
    reqs = project["dependencies"] if group is None \
        else project["optional-dependencies"][group]
    return {_name(r) for r in reqs}


def _imported_top_levels() -> set[str]:
    found: set[str] = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - set(PACKAGES) - {"__future__"}


def _distributions_of(modules: set[str]) -> set[str]:
    dists = packages_distributions()
    return {d.lower().replace("_", "-") for m in modules for d in dists.get(m, [m])}


def test_every_runtime_dependency_is_used() -> None:
    runtime = _declared(None) | _declared("lab") | _declared("s3")
    used = _distributions_of(_imported_top_levels())
    for dist, (file, evidence) in USED_WITHOUT_IMPORT.items():
        assert evidence in (ROOT / file).read_text(encoding="utf-8"), (dist, file)
        used.add(dist)
    assert sorted(runtime - used) == [], "declared but never used: drop them or use them"


def test_every_third_party_import_is_declared() -> None:
    declared = set().union(*(_declared(g) for g in (None, *PYPROJECT["project"][
        "optional-dependencies"])))
    imported = _distributions_of(_imported_top_levels())
    # pyyaml, python-docx, python-calamine ... are found by their distribution names
    assert sorted(imported - declared) == [], "imported but not declared in pyproject.toml"


def test_every_declared_package_is_pinned() -> None:
    pinned = {_name(line) for line in (ROOT / "constraints.txt").read_text().splitlines()
              if line and not line.startswith("#")}
    for group in (None, *PYPROJECT["project"]["optional-dependencies"]):
        missing = _declared(group) - pinned
        assert not missing, f"{group or 'runtime'}: not pinned in constraints.txt: {missing}"


def test_dev_setup_installs_every_optional_part() -> None:
    sys.path.insert(0, str(ROOT))
    try:
        import dev
    finally:
        sys.path.remove(str(ROOT))
    assert set(dev.extras()) == set(PYPROJECT["project"]["optional-dependencies"])
    assert {"lab", "s3", "dev"} <= set(dev.extras())


@pytest.mark.parametrize(("extra", "module"), [("lab", "jupyterlab"), ("s3", "dvc_s3")])
def test_a_missing_optional_part_names_the_extra(monkeypatch, extra: str, module: str) -> None:
    from repository.errors import ConfigError
    from repository.extras import require_extra

    require_extra(extra, needed_for="this")  # installed here: no error
    monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed
    with pytest.raises(ConfigError, match=rf"pip install 'ipdrepo\[{extra}\]'"):
        require_extra(extra, needed_for="this")


def test_s3_remote_without_the_s3_extra_is_refused(monkeypatch) -> None:
    from repository.errors import ConfigError
    from versions.locations import check_remote_url

    assert check_remote_url("s3://bucket/ipd") == "s3://bucket/ipd"
    monkeypatch.setitem(sys.modules, "dvc_s3", None)
    with pytest.raises(ConfigError, match=r"s3://bucket/ipd needs DVC remotes on S3"):
        check_remote_url("s3://bucket/ipd")
    assert check_remote_url("/srv/dvc") == "/srv/dvc"


def test_lab_without_the_lab_extra_is_an_error(monkeypatch, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from repository.cli import cli

    monkeypatch.setitem(sys.modules, "jupyterlab", None)
    r = CliRunner().invoke(cli, ["lab", str(tmp_path)])
    assert r.exit_code == 4
    assert "ipdrepo lab needs JupyterLab" in r.stderr and "ipdrepo[lab]" in r.stderr
