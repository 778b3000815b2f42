"""User accounts (admins only): list, create local accounts, change role or password, delete.

OIDC users appear here after their first sign-in; their role follows their groups at each sign-in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, status

from hub.db.errors import RepositoryError
from web.api_models import UserCreate, UserPublic, UserUpdate
from web.auth import AdminDep, create_user
from web.auth.passwords import PasswordTooShortError, hash_password
from web.auth.users import InvalidUserNameError
from web.routes.deps import DbId, RepoDep, refuse, repository_error

if TYPE_CHECKING:
    from hub.db.models import User
    from hub.db.repository import Repository

__all__ = ["router"]

router = APIRouter(prefix="/api/users", tags=["users"])


def _public(user: User) -> UserPublic:
    assert user.id is not None
    return UserPublic(
        id=user.id,
        name=user.name,
        role=user.role,
        has_password=user.password_hash is not None,
        oidc=user.oidc_subject is not None,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )


async def _user(repo: Repository, user_id: int) -> User:
    user = await repo.get_user(user_id)
    if user is None:
        raise refuse(status.HTTP_404_NOT_FOUND, f"There is no user with id {user_id}.")
    return user


@router.get("")
async def list_users(_admin: AdminDep, repo: RepoDep) -> list[UserPublic]:
    """Every account, by name."""
    return [_public(u) for u in await repo.list_users()]


@router.post("", status_code=status.HTTP_201_CREATED)
async def add_user(_admin: AdminDep, repo: RepoDep, data: UserCreate) -> UserPublic:
    """A local account (argon2-hashed password); 409 if the name is taken."""
    try:
        user = await create_user(repo, data.name, data.role, data.password)
    except (InvalidUserNameError, PasswordTooShortError) as exc:
        raise refuse(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{str(exc)[:1].upper()}{str(exc)[1:]}.") from None
    except RepositoryError as exc:
        raise repository_error(exc) from None
    return _public(user)


@router.get("/{user_id}")
async def get_user(_admin: AdminDep, repo: RepoDep, user_id: DbId) -> UserPublic:
    """One account."""
    return _public(await _user(repo, user_id))


@router.patch("/{user_id}")
async def update_user(admin: AdminDep, repo: RepoDep, user_id: DbId, data: UserUpdate) -> UserPublic:
    """Change a role (effective at the user's next request) or set a new password."""
    user = await _user(repo, user_id)
    if data.role is not None and data.role != user.role and user_id == admin.user_id:
        raise refuse(status.HTTP_409_CONFLICT, "You cannot change your own role; ask another admin.")
    try:
        if data.role is not None:
            user = await repo.set_user_role(user_id, data.role)
        if data.password is not None:
            user = await repo.set_password_hash(user_id, await hash_password(data.password))
    except RepositoryError as exc:
        raise repository_error(exc) from None
    return _public(user)


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_user(admin: AdminDep, repo: RepoDep, user_id: DbId) -> None:
    """Delete an account (its quizzes and games stay, without an owner); not your own."""
    await _user(repo, user_id)
    if user_id == admin.user_id:
        raise refuse(status.HTTP_409_CONFLICT, "You cannot delete your own account; ask another admin.")
    try:
        await repo.delete_user(user_id)
    except RepositoryError as exc:
        raise repository_error(exc) from None
