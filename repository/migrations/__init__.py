"""Alembic migrations of the store (script_location ``repository:migrations``)."""
