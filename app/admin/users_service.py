"""Admin services for people: users and roles, activation, and API tokens."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from app.core.errors import Conflict, NotFound, ValidationFailed
from app.models import ApiToken, Role, User
from app.users import service as users
from app.users.service import IssuedToken


def list_users(session: Session) -> list[User]:
    """Every user, admins first, then by name."""
    users_ = session.scalars(select(User).order_by(User.is_active.desc(), User.role, User.email))
    return list(users_)


def create_user(session: Session, *, email: str, name: str, password: str, role: str) -> User:
    """A new user (the users service checks the e-mail, password length and role)."""
    return users.create_user(session, email=email, password=password, role=role, name=name)


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"No user {user_id}.")
    return user


def _other_active_admins(session: Session, user: User) -> int:
    return int(session.scalar(select(func.count()).select_from(User).where(
        User.role == Role.admin, User.is_active.is_(True), User.id != user.id)) or 0)


def change_role(session: Session, *, user_id: int, role: str, by: User) -> User:
    """Give a user another role; the last active admin cannot lose theirs (nobody could administer)."""
    user = _user(session, user_id)
    try:
        new = Role(role)
    except ValueError:
        raise ValidationFailed(f"Unknown role '{role}': use admin, reviewer or annotator.",
                               details=[{"field": "role"}]) from None
    if user.role == Role.admin and new != Role.admin and _other_active_admins(session, user) == 0:
        raise Conflict(f"{user.email} is the last active admin; make someone else admin first.",
                       details=[{"field": "role"}])
    user.role = new
    session.flush()
    return user


def set_active(session: Session, *, user_id: int, active: bool, by: User) -> User:
    """Deactivate (signs them out, refuses their tokens) or reactivate a user; never yourself."""
    user = _user(session, user_id)
    if user.id == by.id and not active:
        raise Conflict("You cannot deactivate your own account.", details=[{"field": "active"}])
    user.is_active = active
    session.flush()
    return user


def reset_password(session: Session, *, user_id: int, password: str) -> User:
    """Set a user's password for them (they forgot it); they are signed out everywhere. Their API tokens stay."""
    return users.set_password(session, user=_user(session, user_id), password=password)


def list_tokens(session: Session) -> list[ApiToken]:
    """Every API token with its user, newest first."""
    stmt = select(ApiToken).options(selectinload(ApiToken.user)).order_by(ApiToken.revoked_at.is_not(None),
                                                                            ApiToken.id.desc())
    return list(session.scalars(stmt))


def create_token(session: Session, *, user_id: int, name: str) -> IssuedToken:
    """A new token for an active user; the secret is in the answer only."""
    user = _user(session, user_id)
    if not user.is_active:
        raise ValidationFailed(f"{user.email} is deactivated; reactivate them first.", details=[{"field": "user_id"}])
    if len(name) > 200:
        raise ValidationFailed("The token name is longer than 200 characters.", details=[{"field": "name"}])
    return users.create_token(session, user=user, name=name)


def revoke_token(session: Session, *, token_id: int, by: User) -> ApiToken:
    """Revoke a token at once; its clients get 401 from now on."""
    return users.revoke_token(session, token_id=token_id, by=by)
