"""``ipdrepo serve``: the repository as a service (FastAPI app served by uvicorn)."""

from __future__ import annotations

import os

import click

from repository.cli._common import get_settings
from repository.cli.access import requires

__all__ = ["serve"]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Keep 127.0.0.1 behind a reverse proxy that "
                   "terminates TLS (docs/deployment.md).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes; they share nothing but the database and the object "
                   "store (use PostgreSQL for more than one).")
@click.option("--forwarded-allow-ips", default="127.0.0.1", show_default=True,
              help="Proxies whose X-Forwarded-For/-Proto headers are trusted (the client "
                   "address counts for sign-in throttling).")
@requires("service.run")
def serve(host: str, port: int, workers: int, forwarded_allow_ips: str) -> None:
    """Serve the workspace's store over HTTP: the JSON API under /api/v1 and the web pages.

    Only the server needs the database credentials, the pseudonym key, the audit key and the
    object store's credentials; users sign in with a password (and a one-time code) or an API
    token. The settings of the service (public_url, cookie_secure, session and lockout
    times) are listed in `ipdrepo --help` and docs/deployment.md.

    \b
    Example (development, on this machine only):
      IPDREPO_COOKIE_SECURE=false ipdrepo -w ws serve --port 8000
    """
    import uvicorn

    from repository.service.config import ServiceConfig

    settings = get_settings()
    config = ServiceConfig.from_settings(settings)  # refuses bad settings before starting
    if config.insecure_warning:
        click.secho(config.insecure_warning, err=True, fg="yellow", bold=True)
    if workers > 1 and settings.database_url.startswith("sqlite"):
        click.secho("note: several workers on a SQLite store take turns writing; use "
                    "PostgreSQL for a team server.", err=True)
    os.environ["IPDREPO_WORKSPACE"] = str(settings.workspace)
    click.echo(f"Serving {settings.workspace} on http://{host}:{port} "
               f"({workers} worker{'s' if workers > 1 else ''}); public URL "
               f"{config.public_url}.")
    uvicorn.run("repository.service.app:create_app_from_env", factory=True, host=host,
                port=port, workers=workers, proxy_headers=True,
                forwarded_allow_ips=forwarded_allow_ips, log_level="info",
                server_header=False)
