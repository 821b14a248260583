#!/usr/bin/env python3
"""Bootstrap and task runner for ipdrepo. Needs only Python 3.11+.

    python3 dev.py demo [DIR]        set up, then run the end-to-end example (default DIR: demo-workspace)
    python3 dev.py test [--slow] [--no-lint] [PYTEST ARGS]
                                     set up, start a throw-away PostgreSQL server, run ruff, mypy, tests
    python3 dev.py bench [NAME ...]  set up, run benchmarks (tests/benchmarks/bench_NAME.py)
    python3 dev.py lock              re-resolve and rewrite constraints.txt (the pinned environment)
    python3 dev.py setup             only create/refresh .venv

Setup creates .venv, installs the project (editable) with the versions pinned in
constraints.txt, and re-runs only when pyproject.toml or constraints.txt change.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PY = VENV / "bin" / "python"
STAMP = VENV / ".ipdrepo-installed"
CONSTRAINTS = ROOT / "constraints.txt"


def say(msg: str) -> None:
    print(f"[dev] {msg}", flush=True)


def run(cmd: list[str], **kw) -> int:
    return subprocess.call(cmd, cwd=kw.pop("cwd", ROOT), **kw)


def _fingerprint() -> str:
    h = hashlib.sha256()
    for f in (ROOT / "pyproject.toml", CONSTRAINTS):
        if f.exists():
            h.update(f.read_bytes())
    return h.hexdigest()


def extras() -> list[str]:
    """Every optional part of pyproject.toml (dev, lab, s3, ...): the README's commands install
    everything."""
    import tomllib

    with (ROOT / "pyproject.toml").open("rb") as fh:
        return sorted(tomllib.load(fh)["project"].get("optional-dependencies", {}))


def setup() -> None:
    if STAMP.exists() and STAMP.read_text() == _fingerprint() and PY.exists():
        return
    if not PY.exists():
        say("creating .venv")
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
    say("installing ipdrepo and its pinned dependencies (first run takes a few minutes)")
    subprocess.check_call([str(PY), "-m", "pip", "install", "-q", "--upgrade", "pip"])
    cmd = [str(PY), "-m", "pip", "install", "-q", "-e", f".[{','.join(extras())}]",
           "--config-settings", "editable_mode=compat"]
    if CONSTRAINTS.exists():
        cmd[5:5] = ["-c", str(CONSTRAINTS)]
    subprocess.check_call(cmd, cwd=ROOT)
    STAMP.write_text(_fingerprint())


def lock() -> None:
    if CONSTRAINTS.exists():
        CONSTRAINTS.unlink()
    STAMP.unlink(missing_ok=True)
    setup()
    frozen = subprocess.check_output([str(PY), "-m", "pip", "freeze", "--exclude-editable"],
                                     text=True)
    lines = [ln for ln in frozen.splitlines() if ln and not ln.startswith(("-e", "#"))
             and not ln.lower().startswith("ipdrepo")]
    CONSTRAINTS.write_text("# Pinned environment; regenerate with `python3 dev.py lock`.\n"
                           + "\n".join(sorted(lines, key=str.lower)) + "\n")
    STAMP.write_text(_fingerprint())
    say(f"wrote {CONSTRAINTS.name} ({len(lines)} packages)")


# --- PostgreSQL for the tests -------------------------------------------------------------

def _pg_bindir() -> Path | None:
    for base in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (base / "initdb").exists():
            return base
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _apt_install(package: str, message: str) -> None:
    """``apt-get install`` one Debian package (the callers check that we may)."""
    say(message)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.call(["apt-get", "update", "-qq"], env=env)
    subprocess.call(["apt-get", "install", "-y", "-qq", package], env=env)


def _install_postgres() -> None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    _apt_install("postgresql", "installing PostgreSQL (Debian package) for the store tests")


def _install_chromium() -> None:
    """Debian's chromium for the browser tests (tests/service), when it is missing."""
    if (Path(os.environ.get("IPDREPO_CHROMIUM", "/usr/bin/chromium")).exists()
            or os.geteuid() != 0 or not shutil.which("apt-get")):
        return
    _apt_install("chromium", "installing Chromium (Debian package) for the browser tests")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    """A throw-away PostgreSQL cluster on 127.0.0.1, trust auth, removed on exit."""

    def __init__(self) -> None:
        self.bindir = _pg_bindir()
        if self.bindir is None:
            _install_postgres()
            self.bindir = _pg_bindir()
        self.dir: Path | None = None
        self.port = _free_port()
        self.as_root = os.geteuid() == 0

    def _as_owner(self, cmd: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *cmd] if self.as_root else cmd

    def start(self) -> str | None:
        if self.bindir is None:
            return None
        self.dir = Path(tempfile.mkdtemp(prefix="ipdrepo-pg-"))
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        data = self.dir / "data"
        log = self.dir / "server.log"
        subprocess.check_call(self._as_owner([str(self.bindir / "initdb"), "-D", str(data),
                                              "-A", "trust", "-U", "postgres", "-E", "UTF8"]),
                              stdout=subprocess.DEVNULL)
        subprocess.check_call(self._as_owner([
            str(self.bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "start", "-o",
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=200"]), stdout=subprocess.DEVNULL)
        say(f"PostgreSQL {self.bindir.parent.name} running on 127.0.0.1:{self.port}")
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        if self.dir is None:
            return
        subprocess.call(self._as_owner([str(self.bindir / "pg_ctl"), "-D",
                                        str(self.dir / "data"), "-m", "fast", "-w", "stop"]),
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)


def test(args: list[str]) -> int:
    setup()
    _install_chromium()
    slow = "--slow" in args
    lint = "--no-lint" not in args
    args = [a for a in args if a not in ("--slow", "--no-lint")]
    env = dict(os.environ)
    pg = None
    if not env.get("IPDREPO_TEST_PG_URL"):
        pg = Postgres()
        try:
            url = pg.start()
        except subprocess.CalledProcessError as exc:
            say(f"could not start PostgreSQL: {exc}")
            url = None
        if url:
            env["IPDREPO_TEST_PG_URL"] = url
        else:
            say("PostgreSQL is not available: the PostgreSQL variants of the store tests will "
                "be reported as SKIPPED (set IPDREPO_REQUIRE_PG=1 to make that an error)")
    try:
        if lint:
            say("ruff")
            rc = run([str(PY), "-m", "ruff", "check", "."], env=env)
            if rc:
                return rc
            say("mypy")
            rc = run([str(PY), "-m", "mypy", "repository", "harmonise", "versions", "analyses"],
                     env=env)
            if rc:
                return rc
        markers = [] if slow else ["-m", "not slow"]
        if not any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in args):
            # one pytest worker per core (pytest-xdist); `-n 0` runs everything in one process
            markers += ["-n", str(min(4, os.cpu_count() or 1))]
        say("pytest" + (" (including slow tests)" if slow else ""))
        started = time.monotonic()
        rc = run([str(PY), "-m", "pytest", *markers, *args], env=env)
        say(f"pytest finished in {time.monotonic() - started:.0f} s")
        return rc
    finally:
        if pg is not None:
            pg.stop()


def bench(names: list[str]) -> int:
    setup()
    scripts = sorted((ROOT / "tests" / "benchmarks").glob("bench_*.py"))
    if names:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in names]
        if not scripts:
            sys.exit(f"no benchmark named {', '.join(names)}")
    rc = 0
    for script in scripts:
        say(f"benchmark {script.stem}")
        rc |= run([str(PY), str(script)])
    return rc


def demo(args: list[str]) -> int:
    setup()
    directory = args[0] if args else "demo-workspace"
    return run([str(VENV / "bin" / "ipdrepo"), "demo", directory, *args[1:]])


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__)
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd == "setup":
        setup()
        return 0
    if cmd == "lock":
        lock()
        return 0
    if cmd == "test":
        return test(rest)
    if cmd == "bench":
        return bench(rest)
    if cmd == "demo":
        return demo(rest)
    print(f"unknown command {cmd!r}\n{__doc__}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
