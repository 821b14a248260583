"""Checking ``ipdrepo ...`` command lines written in documentation against the real CLI.

A line is valid when its command path exists, every option is an option of that command
(choices among the allowed values, values present where an option takes one), and the number
of positional arguments fits the command. Nothing is run.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import click

FENCE = re.compile(r"^(\s*)(```|~~~)")
PROMPT = re.compile(r"^(?:\$\s+)?(?:\S*/)?ipdrepo(?:\s|$)")


def command_lines(text: str, *, fenced_only: bool = True) -> Iterator[str]:
    """``ipdrepo`` command lines in markdown code blocks (or in any text), continuation
    lines (ending in a backslash) joined."""
    inside = False
    pending = ""
    for raw in text.splitlines():
        if fenced_only and FENCE.match(raw):
            inside = not inside
            pending = ""
            continue
        if fenced_only and not inside:
            continue
        line = raw.strip()
        if pending:
            line = pending + " " + line
            pending = ""
        elif not PROMPT.match(line):
            continue
        if line.endswith("\\"):
            pending = line[:-1].rstrip()
            continue
        yield line


def _tokens(line: str) -> list[str]:
    tokens = shlex.split(line, comments=True)
    while tokens and not tokens[0].endswith("ipdrepo"):
        tokens.pop(0)  # "$", a path prefix ...
    return tokens[1:]


def _options(command: click.Command) -> dict[str, click.Option]:
    out: dict[str, click.Option] = {}
    for p in command.params:
        if isinstance(p, click.Option):
            for name in (*p.opts, *p.secondary_opts):
                out[name] = p
    out.setdefault("--help", click.Option(["--help"], is_flag=True))
    out.setdefault("-h", out["--help"])
    return out


def _chosen(choice: click.Choice, value: str) -> bool:
    if choice.case_sensitive:
        return value in choice.choices
    return value.casefold() in {str(c).casefold() for c in choice.choices}


def _check_args(command: click.Command, tokens: list[str], where: str) -> list[str]:
    problems: list[str] = []
    options = _options(command)
    positional: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok == "--":
            positional += tokens[i + 1:]
            break
        if tok.startswith("-") and len(tok) > 1 and not re.match(r"^-\d", tok):
            name, eq, value = tok.partition("=")
            opt = options.get(name)
            if opt is None:
                problems.append(f"{where}: unknown option {name}")
                i += 1
                continue
            takes_value = not (opt.is_flag or opt.count)
            if takes_value and not eq:
                n = max(opt.nargs, 1)  # an option may take several values (nargs=2)
                if i + n >= len(tokens):
                    problems.append(f"{where}: {name} needs a value" if n == 1 else
                                    f"{where}: {name} needs {n} values")
                    break
                value = tokens[i + 1]
                i += n
            if takes_value and isinstance(opt.type, click.Choice) and not _chosen(opt.type,
                                                                               value):
                problems.append(f"{where}: {name} {value!r} is not one of "
                                f"{list(opt.type.choices)}")
            i += 1
            continue
        positional.append(tok)
        i += 1
    if "--help" in tokens or "-h" in tokens:
        return problems
    arguments = [p for p in command.params if isinstance(p, click.Argument)]
    required = sum(a.nargs if a.nargs > 0 else 1 for a in arguments if a.required)
    unlimited = any(a.nargs == -1 for a in arguments)
    most = sum(max(a.nargs, 0) for a in arguments)
    if len(positional) < required:
        problems.append(f"{where}: {len(positional)} argument(s), needs {required} "
                        f"({', '.join(a.human_readable_name for a in arguments)})")
    if not unlimited and len(positional) > most:
        problems.append(f"{where}: {len(positional)} argument(s) {positional}, takes at most "
                        f"{most}")
    return problems


def _unbracket(token: str) -> str:
    """``[--json]`` -> ``--json`` (synopsis notation for optional parts)."""
    if token.startswith("[") and token not in ("[", "[]"):
        token = token[1:]
    if token.endswith("]") and "[" not in token:
        token = token[:-1]
    if token.endswith("]..."):
        token = token[:-4]
    return token


def _path_length(tokens: list[str]) -> int:
    """How many leading tokens name commands (root options skipped)."""
    from repository.cli import cli

    command: click.Command = cli
    i = n = 0
    while i < len(tokens) and isinstance(command, click.Group):
        if tokens[i].startswith("-"):
            i += 2 if "=" not in tokens[i] else 1
            continue
        sub = command.get_command(click.Context(command), tokens[i].split("|")[0])
        if sub is None:
            break
        command, i = sub, i + 1
        n = i
    return n


def alternatives(line: str) -> list[list[str]]:
    """The command lines a synopsis stands for: ``[...]`` optional parts kept,
    ``a|b`` and ``cmd ... | other ...`` alternatives expanded."""
    tokens = [_unbracket(t) for t in _tokens(line)]
    if "|" in tokens:
        cut = tokens.index("|")
        left, right = tokens[:cut], tokens[cut + 1:]
        end = _path_length(left)
        return alternatives(shlex.join(["ipdrepo", *left])) + \
            alternatives(shlex.join(["ipdrepo", *left[:max(end - 1, 0)], *right]))
    end = _path_length(tokens)
    for i, tok in enumerate(tokens[:end]):
        if "|" in tok:
            return [alt for choice in tok.split("|") for alt in
                    alternatives(shlex.join(["ipdrepo", *tokens[:i], choice, *tokens[i + 1:]]))]
    return [tokens]


def check_line(line: str) -> list[str]:
    """Problems of one ``ipdrepo ...`` command line (empty when valid); synopsis notation
    (``[--json]``, ``reject|revoke``) is expanded first."""
    return [p for tokens in alternatives(line) for p in _check_tokens(line, tokens)]


def _check_tokens(line: str, tokens: list[str]) -> list[str]:
    from repository.cli import cli

    command: click.Command = cli
    path = ["ipdrepo"]
    root_options = _options(cli)
    server = False  # with --server, the remote commands (repository.cli.remote_cmds) apply
    while tokens:
        tok = tokens[0]
        if isinstance(command, click.Group) and tok.startswith("-"):
            if command is not cli:
                break
            name, eq, _ = tok.partition("=")
            opt = root_options.get(name)
            if opt is None:
                return [f"`{line}`: unknown option {name} of ipdrepo"]
            tokens = tokens[1:] if (opt.is_flag or eq) else tokens[2:]
            server = server or name == "--server"
            if name in ("--help", "-h", "--version"):
                return []
            continue
        if not isinstance(command, click.Group):
            break
        ctx = click.Context(command, info_name=" ".join(path))
        if server:
            ctx.meta["ipdrepo.server"] = "https://server.example.org"
        sub = command.get_command(ctx, tok)
        if sub is None:
            return [f"`{line}`: {' '.join(path)} has no command {tok!r}"]
        command = sub
        path.append(tok)
        tokens = tokens[1:]
    if isinstance(command, click.Group):
        return [] if not tokens or tokens[0] in ("--help", "-h") else \
            [f"`{line}`: {' '.join(path)} needs a command"]
    return _check_args(command, tokens, f"`{line}`")


def markdown_files(root: Path) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
