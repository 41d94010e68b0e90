"""Users and API tokens: create, authenticate, revoke."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from app.core.errors import Conflict, NotFound, ValidationFailed
from app.core.security import generate_password, hash_api_token, hash_password, new_api_token, verify_password
from app.models import ApiToken, Role, User
from app.models.base import utcnow

MIN_PASSWORD_LENGTH = 8


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or email.startswith("@") or email.endswith("@") or len(email) > 320:
        raise ValidationFailed(f"'{email}' is not an e-mail address.", details=[{"field": "email"}])
    return email


def create_user(session: Session, *, email: str, password: str, role: Role | str, name: str = "") -> User:
    """A new user; the e-mail must be unused and the password at least 8 characters."""
    email = normalise_email(email)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(f"The password must be at least {MIN_PASSWORD_LENGTH} characters.",
                               details=[{"field": "password"}])
    try:
        role = Role(role)
    except ValueError:
        raise ValidationFailed(f"Unknown role '{role}': use admin, reviewer or annotator.",
                               details=[{"field": "role"}]) from None
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"A user with e-mail {email} already exists.")
    user = User(email=email, password_hash=hash_password(password), role=role, name=name.strip())
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, *, user: User, password: str) -> User:
    """A new password (at least 8 characters); every session of the user ends, since it was signed for the old one."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(f"The password must be at least {MIN_PASSWORD_LENGTH} characters.",
                               details=[{"field": "password"}])
    user.password_hash = hash_password(password)
    session.flush()
    return user


def authenticate(session: Session, *, email: str, password: str) -> User | None:
    """The active user with these credentials, or None. Takes the same time whether the e-mail exists."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    ok = verify_password(user.password_hash if user else None, password)
    if not (ok and user and user.is_active):
        return None
    user.last_login_at = utcnow()
    return user


def get_user_by_email(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFound(f"No user with e-mail {email}.")
    return user


def ensure_first_admin(session: Session, *, email: str, password: str) -> tuple[User, str | None] | None:
    """Create the first admin if there is none. Returns (user, generated password or None) when created."""
    if session.scalar(select(func.count()).select_from(User).where(User.role == Role.admin)):
        return None
    generated = None
    if not password:
        password = generated = generate_password()
    user = create_user(session, email=email or "admin@localhost.localdomain", password=password,
                       role=Role.admin, name="Admin")
    return user, generated


@dataclass
class IssuedToken:
    token: ApiToken
    secret: str  # shown once, never stored


def create_token(session: Session, *, user: User, name: str = "") -> IssuedToken:
    secret = new_api_token()
    token = ApiToken(user_id=user.id, name=name.strip() or "token", prefix=secret[:10],
                     token_hash=hash_api_token(secret))
    session.add(token)
    session.flush()
    return IssuedToken(token=token, secret=secret)


def user_for_token(session: Session, secret: str) -> User | None:
    # The user comes in the same round trip: this runs on every API request.
    token = session.scalar(select(ApiToken).options(joinedload(ApiToken.user))
                           .where(ApiToken.token_hash == hash_api_token(secret)))
    if token is None or token.revoked_at is not None or not token.user.is_active:
        return None
    now = utcnow()
    # Write last_used at most once a minute: a hot client must not turn every read into a write.
    last = token.last_used_at
    if last is None or (now - (last if last.tzinfo else last.replace(tzinfo=now.tzinfo))).total_seconds() > 60:
        token.last_used_at = now
    return token.user


def revoke_token(session: Session, *, token_id: int, by: User) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None or (token.user_id != by.id and by.role != Role.admin):
        raise NotFound(f"No API token {token_id}.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    return token
