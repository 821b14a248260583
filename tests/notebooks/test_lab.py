"""``ipdrepo lab``: the notebooks installed into a workspace (edits kept), and a real
JupyterLab server started on a loopback port that lists them through its contents API."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from repository.cli import cli
from repository.cli.lab_cmds import RECORD, bundled_notebooks, install_notebooks, lab_command

NAMES = [p.name for p in bundled_notebooks()]


def make_workspace(path: Path) -> Path:
    result = CliRunner().invoke(cli, ["init", str(path), "--topic", "gastric-adjuvant"],
                                env={"IPDREPO_USER": "lab-tester"})
    assert result.exit_code == 0, result.output
    return path


def test_install_copies_then_keeps_edits_and_updates_untouched_copies(tmp_path: Path) -> None:
    source = tmp_path / "bundled"
    source.mkdir()
    (source / "a.ipynb").write_text("a1")
    (source / "b.ipynb").write_text("b1")
    ws = tmp_path / "ws"
    first = install_notebooks(ws, source=source)
    assert first.copied == ("a.ipynb", "b.ipynb") and not first.kept
    assert (ws / "notebooks" / "a.ipynb").read_text() == "a1"
    again = install_notebooks(ws, source=source)
    assert again.unchanged == ("a.ipynb", "b.ipynb") and not again.copied
    # the user edits a; a new version of both is bundled
    (ws / "notebooks" / "a.ipynb").write_text("my analysis")
    (source / "a.ipynb").write_text("a2")
    (source / "b.ipynb").write_text("b2")
    later = install_notebooks(ws, source=source)
    assert later.kept == ("a.ipynb",) and later.updated == ("b.ipynb",)
    assert (ws / "notebooks" / "a.ipynb").read_text() == "my analysis"
    assert (ws / "notebooks" / "b.ipynb").read_text() == "b2"
    # a file of the user's with a bundled notebook's name, never installed by us, is kept
    (ws / "notebooks" / RECORD).unlink()
    (ws / "notebooks" / "b.ipynb").write_text("mine too")
    assert install_notebooks(ws, source=source).kept == ("a.ipynb", "b.ipynb")
    assert (ws / "notebooks" / "b.ipynb").read_text() == "mine too"


def test_lab_command_line() -> None:
    argv = lab_command(Path("/w"), port=8890, ip="127.0.0.1", no_browser=True, allow_root=True)
    assert argv[:3] == [sys.executable, "-m", "jupyterlab"]
    assert {"--ServerApp.root_dir=/w", "--ServerApp.port=8890", "--ServerApp.port_retries=0",
            "--ServerApp.ip=127.0.0.1", "--no-browser", "--allow-root"} <= set(argv)
    assert not any("port" in a for a in lab_command(Path("/w"), port=None, ip=None,
                                                    no_browser=False))


def test_lab_refuses_a_directory_that_is_not_a_workspace(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["lab", str(tmp_path), "--no-browser"])
    assert result.exit_code != 0
    assert "is not an ipdrepo workspace" in result.output
    assert not (tmp_path / "notebooks").exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str, token: str) -> object:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_lab_serves_the_notebooks(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    edited = ws / "notebooks" / NAMES[0]
    edited.parent.mkdir()
    edited.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    port, token = free_port(), "ipdrepo-lab-test-token"
    jupyter = tmp_path / "jupyter"
    env = {**os.environ, "JUPYTER_TOKEN": token, "JUPYTER_CONFIG_DIR": str(jupyter / "config"),
           "JUPYTER_DATA_DIR": str(jupyter / "data"),
           "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime"), "IPDREPO_USER": "lab-tester"}
    env.pop("IPDREPO_WORKSPACE", None)
    log = (tmp_path / "lab.log").open("w")
    root = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    proc = subprocess.Popen([sys.executable, "-m", "repository", "lab", str(ws), "--no-browser",
                             "--port", str(port), "--ip", "127.0.0.1", *root], cwd=tmp_path, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:  # poll the API until it answers (or the server died, or time is up)
            if proc.poll() is not None:
                pytest.fail(f"ipdrepo lab exited with {proc.returncode}:\n"
                            + (tmp_path / "lab.log").read_text()[-3000:])
            try:
                version = get_json(f"{base}/api", token)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail("JupyterLab did not answer on /api within 90 s:\n"
                                + (tmp_path / "lab.log").read_text()[-3000:])
                time.sleep(0.2)  # a polling interval, not a synchronisation
        assert isinstance(version, dict) and "version" in version
        listing = get_json(f"{base}/api/contents/notebooks", token)
        assert isinstance(listing, dict)
        listed = sorted(item["name"] for item in listing["content"]
                        if item["type"] == "notebook")
        assert listed == sorted(NAMES)
        # the user's edited copy was kept; the others are the bundled ones
        assert edited.read_text().startswith('{"cells": []')
        nb = get_json(f"{base}/api/contents/notebooks/{NAMES[2]}", token)
        assert isinstance(nb, dict) and nb["content"]["cells"]
        # without the token the server refuses
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"{base}/api/contents/notebooks", timeout=10)
        output = (tmp_path / "lab.log").read_text()
        assert f"notebooks kept (you edited them): {NAMES[0]}" in output
        assert "notebooks copied: " + ", ".join(NAMES[1:]) in output
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # the lab process itself (it became JupyterLab)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # the process group this test started
                proc.wait(timeout=30)
        log.close()
