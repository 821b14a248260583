"""Users and their roles.

::

    user (curator | trialist of one trial | analyst)
"""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from repository.models import store  # noqa: F401 (the tables its foreign keys refer to)
from repository.models.base import Base, intpk, timestamp

__all__ = ["User"]


class User(Base):
    __tablename__ = "app_user"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(200), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(200))
    #: curator (all trials), trialist (one trial's queries and data), analyst (releases only)
    role: Mapped[str] = mapped_column(String(20))
    trial_id: Mapped[int | None] = mapped_column(ForeignKey("trial.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[timestamp]
