"""The repository as a service: ``ipdrepo serve``.

A FastAPI application (:func:`repository.service.app.create_app`) over the same store as the
CLI, a thin layer over the library like the CLI. Only the server holds the database
credentials, the pseudonym key, the audit key and the object store's credentials; users hold
a password (and a TOTP second factor) or an API token.

Modules (only :mod:`~repository.service.app` and the route modules import FastAPI, so the CLI
can use the account functions without it):

* :mod:`~repository.service.config`: the service's settings, one frozen object;
* :mod:`~repository.service.secret_tokens`: random tokens and their stored hashes;
* :mod:`~repository.service.passwords`: argon2id password hashes;
* :mod:`~repository.service.totp`: RFC 6238 one-time codes;
* :mod:`~repository.service.accounts`: invitations, one-time links, passwords, sign-in with
  throttling and lockout;
* :mod:`~repository.service.tokens`: API bearer tokens;
* :mod:`~repository.service.sessions`: server-side browser sessions and their CSRF tokens;
* :mod:`~repository.service.policy`: how a route declares its action of
  :data:`repository.roles.ACTIONS` and how it is enforced;
* :mod:`~repository.service.app`: the application factory, error mapping, security headers;
* ``routes_*``: the JSON API under ``/api/v1``, one module per area.
"""

__all__: list[str] = []
