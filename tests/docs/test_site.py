"""The documentation site builds with ``mkdocs build --strict`` (every warning fails: broken
links and anchors, pages missing from the navigation, docstrings that do not render), and its
API reference covers the public API of the four packages."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("repository", "harmonise", "versions", "analyses")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        import mkdocs  # noqa: F401
        import mkdocstrings  # noqa: F401
    except ImportError as exc:  # a failure, not a skip: the docs must build in CI
        pytest.fail(f"{exc}; install the dev extra: pip install -e '.[dev]'")
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                             str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin",
                                 "HOME": str(out)})
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-5000:]
    assert "WARNING" not in log, log[-5000:]
    return out


def test_every_page_is_built(site: Path) -> None:
    pages = [p.relative_to(ROOT / "docs") for p in (ROOT / "docs").rglob("*.md")]
    for page in pages:
        html = site / page.with_suffix("") / "index.html" if page.name != "index.md" \
            else site / page.parent / "index.html"
        assert html.is_file(), f"{page} was not built"


@pytest.mark.parametrize("package", PACKAGES)
def test_api_reference_covers_the_public_api(site: Path, package: str) -> None:
    page = (site / "api" / package / "index.html").read_text()
    module = importlib.import_module(package)
    names = list(getattr(module, "__all__", ()))
    if package == "repository":  # no curated __all__: the modules the page promises
        names = ["init_workspace", "load_settings", "Store", "ingest", "add_trial",
                 "IPDError", "example_workspace", "install_notebooks"]
    missing = [n for n in names if not re.search(rf'id="{package}\.[\w.]*\.{re.escape(n)}"',
                                                 page)]
    assert not missing, f"not in the {package} API reference: {missing}"
