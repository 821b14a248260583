"""The ``ipdrepo`` command line.

One group fronts the four packages. Every command is registered lazily in
:data:`LAZY_COMMANDS`, so that a package's commands live beside its code and a command imports
only what it needs: ``ipdrepo --help`` lists the commands from :data:`SUMMARIES` (their one-line
help, checked against the commands' own by a test) without importing any of them.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from repository.cli._common import IPDGroup, private_and_safe_output, workspace_option

__all__ = ["main", "cli", "LAZY_COMMANDS", "SUMMARIES"]

#: name -> "module:attribute" of a click command or group, imported on first use.
LAZY_COMMANDS: dict[str, str] = {
    "init": "repository.cli.store_cmds:init",
    "trial": "repository.cli.store_cmds:trial",
    "ingest": "repository.cli.store_cmds:ingest",
    "ingest-package": "repository.cli.package_cmds:ingest_package",
    "deliveries": "repository.cli.store_cmds:deliveries",
    "participants": "repository.cli.store_cmds:participants",
    "status": "repository.cli.store_cmds:status",
    "audit": "repository.cli.store_cmds:audit",
    "verify": "repository.cli.verify_cmds:verify",
    "example": "repository.cli.example_cmds:example",
    "db": "repository.cli.store_cmds:db",
    "user": "repository.cli.store_cmds:user",
    "token": "repository.cli.account_cmds:token",
    "serve": "repository.cli.serve_cmds:serve",
    "notify": "repository.cli.notify_cmds:notify",
    "login": "repository.cli.remote_cmds:login",
    "logout": "repository.cli.remote_cmds:logout",
    "demo": "repository.cli.demo_cmds:demo",
    "lab": "repository.cli.lab_cmds:lab",
    "harmonise": "harmonise.pipeline.cli:harmonise",
    "validate": "harmonise.pipeline.cli:validate",
    "report": "harmonise.pipeline.cli:report",
    "explain": "harmonise.pipeline.cli:explain",
    "corrections": "harmonise.queries.cli:corrections",
    "queries": "harmonise.queries.cli:queries",
    "release": "versions.cli:release",
    "request": "versions.cli:request",
    "withdraw": "versions.cli:withdraw",
    "consent": "versions.cli:consent",
    "prisma": "versions.cli:prisma",
    "governance": "versions.cli_governance:governance",
    "analyse": "analyses.cli:analyse",
    "dictionary": "harmonise.dictionary.cli:dictionary",
    "mapping": "harmonise.mapping.cli:mapping",
}


#: name -> the first paragraph of the command's help (what ``ipdrepo --help`` lists); a test
#: checks each against the command's own docstring.
SUMMARIES: dict[str, str] = {
    "init": "Create a workspace in DIRECTORY (default: here) holding an empty topic store.",
    "trial": "Register and list the topic's trials (registry IDs, arms, published numbers).",
    "ingest": "Ingest FILE as a delivery of trial ACRONYM.",
    "ingest-package": ("Ingest several datasets of trial ACRONYM at once: files, a directory, "
                       "a zip."),
    "deliveries": ("List deliveries (of trial ACRONYM, or of every trial you may see): "
                   "file, format, hash, rows, status."),
    "participants": ("List trial ACRONYM's participants by pseudonym (with --map-back, "
                     "curators only: and their trial IDs)."),
    "status": ("Summarise the topic: trials, published vs delivered numbers, "
               "deliveries, participants (a trialist: their own trial)."),
    "audit": "The append-only, hash-chained audit trail.",
    "verify": "Check the workspace against tampering and loss; exit 8 if anything fails.",
    "example": "The synthetic example topic (gastric-adjuvant) used by the demo and the tests.",
    "db": "Database schema maintenance (migrations).",
    "user": "Users and their roles: curator, trialist (of one trial), analyst.",
    "token": "API tokens for the server's API and the --server clients.",
    "serve": ("Serve the workspace's store over HTTP: the JSON API under /api/v1 and the web "
              "pages."),
    "notify": "E-mail reminders and the curators' digest (SMTP settings: `ipdrepo --help`).",
    "login": "Sign in to SERVER and keep an API token in your credentials file (mode 0600).",
    "logout": ("Forget the token kept for SERVER (revoke it with `ipdrepo token revoke` first "
               "to make it stop working)."),
    "demo": "Run the whole job end to end on the example topic, in DIRECTORY.",
    "lab": "Start JupyterLab on WORKSPACE with the example notebooks.",
    "harmonise": ("Harmonise TRIALS (default: every trial with a delivery) onto the topic "
                  "dictionary."),
    "validate": ("Validate TRIALS (default: all) and run the trial-integrity checks; "
                 "raise data queries."),
    "report": "Write HTML reports: one per trial and the topic overview (index.html).",
    "explain": ("Why a harmonised value is what it is: delivered value -> rule -> "
                "corrections -> value."),
    "corrections": ("Corrections: accepted answers applied to raw cells (attributed, never "
                    "overwritten)."),
    "queries": "Data queries to trialists: workbooks out, answers in.",
    "release": "Versioned releases of the topic dataset (git + DVC).",
    "request": "Data requests and the extracts made for them.",
    "withdraw": ("Record that PARTICIPANT of TRIAL withdrew consent: excluded from every "
                 "later release and extract; earlier releases stay reproducible."),
    "consent": "Consent withdrawals.",
    "prisma": "The PRISMA-IPD flow diagram and the trials' IPD status.",
    "governance": "Governance documents: the retrieval drill of a data request.",
    "analyse": "Meta-analysis: pool estimates or 2x2 tables, two-stage and one-stage IPD models.",
    "dictionary": "Check, show and export the topic data dictionary.",
    "mapping": "Check, show, draft and confirm per-trial mappings.",
}


class LazyGroup(IPDGroup):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``--help``, from :data:`SUMMARIES`: nothing is imported."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = []
        for name in names:
            if name in SUMMARIES:
                stand_in = click.Command(name, help=SUMMARIES[name])  # click shortens it
                rows.append((name, stand_in.get_short_help_str(limit)))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if ctx.find_root().meta.get("ipdrepo.server"):
            from repository.cli.remote_cmds import REMOTE_COMMANDS

            if cmd_name in REMOTE_COMMANDS:  # act through the server with a token
                module = importlib.import_module("repository.cli.remote_cmds")
                remote = getattr(module, REMOTE_COMMANDS[cmd_name])
                assert isinstance(remote, click.Command)
                return remote
        if cmd_name in LAZY_COMMANDS:
            module_name, attr = LAZY_COMMANDS[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attr)
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, cmd_name)


def _remember_server(ctx: click.Context, _param: click.Parameter, value: str | None
                     ) -> str | None:
    if value:
        ctx.meta["ipdrepo.server"] = value
    return value


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@workspace_option
@click.option("--server", default=None, envvar="IPDREPO_SERVER", expose_value=False,
              is_eager=True, callback=_remember_server, metavar="URL",
              help="Act through an ipdrepo server with your API token (env IPDREPO_SERVER): "
                   "queries, release, request, token and upload then need no workspace. "
                   "Sign in first with `ipdrepo login --server URL`.")
@click.version_option(package_name="ipdrepo", prog_name="ipdrepo")
@click.pass_context
def cli(ctx: click.Context, **_: Any) -> None:
    """ipdrepo: a topic repository for individual participant data meta-analysis.

    \b
    The whole loop on a synthetic example:  ipdrepo demo demo-workspace
    \b
    A curator's session:
      ipdrepo init ws --topic gastric-adjuvant --dictionary dictionaries/gastric-adjuvant
      ipdrepo -w ws trial add GAST-01 --arm "1=Surgery alone:1:150:0" --arm "2=Chemo:1:150:1"
      ipdrepo -w ws ingest GAST-01 delivery.sav --id-column patid
      ipdrepo -w ws mapping check GAST-01          # dry run of the trial's mapping
      ipdrepo -w ws validate                       # harmonise, validate, raise data queries
      ipdrepo -w ws queries export GAST-01         # a workbook for the trial's team
      ipdrepo -w ws queries import answered.xlsx
      ipdrepo -w ws queries accept --all-answered  # answers become corrections
      ipdrepo -w ws release create --version 1.0.0
      ipdrepo -w ws analyse two-stage release:1.0.0 --trial trial --treatment arm \\
          --time os_time_days --event os_event --model cox

    Every command acts on the workspace in the current directory, or the one given by
    --workspace / IPDREPO_WORKSPACE. Add --json to listing commands for machine-readable output.
    Exit codes: 0 ok, 2 usage, 3 not found, 4 bad input, 5 refused, 6 validation failures,
    7 permission denied, 8 integrity failure (audit trail or raw files), 1 anything else.

    Files the commands write are readable by their owner only (setting umask, default 077);
    control characters in what they print are shown escaped (\x1b), never obeyed.
    """
    private_and_safe_output(ctx)


#: the cyclic garbage collector's first-generation threshold in a command (Python's default:
#: 700 new container objects). Importing SQLAlchemy and building the mapped classes leaves some
#: 60,000 objects and under a thousand of garbage; at the default the collector runs ~150 times
#: over them during ``ipdrepo status`` (40 ms, a tenth of the command), at 50,000 ten times
#: (18 ms). Cycles are still collected, a little later; the older generations keep their
#: defaults.
GC_FIRST_GENERATION = 50_000


def main(argv: list[str] | None = None) -> None:
    import gc

    gc.set_threshold(GC_FIRST_GENERATION, *gc.get_threshold()[1:])
    cli.main(args=argv, prog_name="ipdrepo")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
