"""One session per task, committed once at the end, like a request."""

from app.core.db import session_scope as task_session

__all__ = ["task_session"]
