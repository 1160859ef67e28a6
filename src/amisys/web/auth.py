"""Console operators: the users file, scrypt password hashes, roles, signed session cookies and CSRF tokens.

A users file (TOML or JSON) lists each operator's username, role and ``scrypt$n$r$p$salt$hash`` (hex), never a
plaintext password. Sessions are a signed, timestamped cookie (itsdangerous) carrying the username and the
session's CSRF token; the cookie is HttpOnly and SameSite=Strict, and every POST form carries the token.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
import tomllib
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

Role = Literal["viewer", "operator", "supervisor", "trainer"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "supervisor", "trainer")

PERMISSIONS: dict[str, frozenset[Role]] = {
    "read": frozenset(ROLES),
    "operate": frozenset({"operator", "supervisor"}),
    "approve": frozenset({"supervisor"}),
    "simulate": frozenset({"trainer"}),
}
"""What each role may do: viewers read; operators also read on demand, connect/disconnect and issue DR events;
supervisors also approve or reject quarantined commands; trainers inject faults into the simulation."""

USERNAME = re.compile(r"[a-z][a-z0-9_.-]{1,31}")
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SESSION_COOKIE = "amisys_session"
SESSION_MAX_AGE_S = 8 * 3600
"""A session lasts one operator shift."""
LOGIN_FAILURES = 5
LOGIN_WINDOW_S = 300.0
"""More than LOGIN_FAILURES wrong passwords for one username within LOGIN_WINDOW_S locks it for that window."""


class UsersFileError(ValueError):
    """The users file is missing, malformed, or holds something that is not a valid user."""


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$salt$hash`` with a fresh 16-byte salt per user."""
    if not password:
        raise ValueError("a password must not be empty")
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=len(digest) // 2
        )
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


@dataclass(frozen=True)
class User:
    username: str
    role: Role
    password_hash: str

    @property
    def operator(self) -> str:
        """The identity that goes into a command's ``operator`` field and so into the audit log."""
        return f"operator:{self.username}"

    def may(self, permission: str) -> bool:
        return self.role in PERMISSIONS[permission]


class Users:
    """The operators who may log in, with a per-username failed-login throttle."""

    def __init__(self, users: list[User]) -> None:
        self._users: dict[str, User] = {}
        for u in users:
            if u.username in self._users:
                raise UsersFileError(f"user {u.username!r} is listed twice")
            self._users[u.username] = u
        if not self._users:
            raise UsersFileError("the users file lists no user")
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def __contains__(self, username: str) -> bool:
        return username in self._users

    def __iter__(self):
        return iter(self._users.values())

    def get(self, username: str) -> User | None:
        return self._users.get(username)

    def authenticate(self, username: str, password: str, now: float | None = None) -> User:
        """The user, or ValueError with a message that does not tell which of name or password was wrong."""
        now = time.monotonic() if now is None else now
        failures = self._failures[username]
        while failures and failures[0] < now - LOGIN_WINDOW_S:
            failures.popleft()
        if len(failures) >= LOGIN_FAILURES:
            raise ValueError(f"too many failed logins for {username!r}: try again in a few minutes")
        user = self._users.get(username)
        # a missing user costs the same scrypt as a wrong password, so timing does not tell which it was
        ok = check_password(password, user.password_hash if user else _DUMMY_HASH)
        if user is None or not ok:
            failures.append(now)
            raise ValueError("unknown user or wrong password")
        failures.clear()
        return user


_DUMMY_HASH = hash_password("not a password", salt=b"\0" * 16)


def _user(entry: object, where: str) -> User:
    if not isinstance(entry, dict):
        raise UsersFileError(f"{where}: each user must be a table with username, role and password_hash")
    unknown = set(entry) - {"username", "role", "password_hash"}
    if unknown:
        raise UsersFileError(
            f"{where}: unknown field(s) {', '.join(sorted(unknown))} (never store a plaintext password)"
        )
    name, role, pw = entry.get("username"), entry.get("role"), entry.get("password_hash")
    if not isinstance(name, str) or not USERNAME.fullmatch(name):
        raise UsersFileError(f"{where}: username {name!r} must be 2-32 of a-z 0-9 _ . - starting with a letter")
    if role not in ROLES:
        raise UsersFileError(f"{where}: role {role!r} of {name} must be one of {', '.join(ROLES)}")
    if not isinstance(pw, str) or not pw.startswith("scrypt$") or pw.count("$") != 5:
        raise UsersFileError(f"{where}: password_hash of {name} must be scrypt$n$r$p$salt$hash")
    return User(name, role, pw)  # type: ignore[arg-type]


def load_users(path: Path) -> Users:
    """Read a users file: TOML (``[[users]]`` tables) or JSON (``{"users": [...]}``), by its extension."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsersFileError(f"cannot read users file {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsersFileError(
            f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'TOML'}: {exc}"
        ) from None
    entries = data.get("users") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise UsersFileError(f"{path}: expected a list of users under 'users'")
    return Users([_user(e, f"{path} user {k}") for k, e in enumerate(entries, 1)])


def write_users(path: Path, users: list[User]) -> None:
    """Write a TOML users file readable by its owner only."""
    lines = []
    for u in users:
        lines += [
            "[[users]]",
            f'username = "{u.username}"',
            f'role = "{u.role}"',
            f'password_hash = "{u.password_hash}"',
            "",
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    path.chmod(0o600)


def generate_users(path: Path) -> dict[str, str]:
    """One user per role, named after it, with a random password; writes their hashes to ``path`` and returns
    username → password (to be shown once)."""
    made: dict[str, str] = {}
    users = []
    for role in ROLES:
        made[role] = secrets.token_urlsafe(12)
        users.append(User(role, role, hash_password(made[role])))
    write_users(path, users)
    return made


@dataclass(frozen=True)
class Session:
    username: str
    csrf: str


class Sessions:
    """Signed session cookies and their CSRF tokens; a cookie is honoured only while its session is live here,
    so logging out ends it for good (a copied cookie does not outlive the logout)."""

    def __init__(self, secret: bytes) -> None:
        self._signer = URLSafeTimedSerializer(secret, salt="amisys-console-session")
        self._live: set[str] = set()

    def new(self, username: str) -> tuple[Session, str]:
        session = Session(username, secrets.token_urlsafe(24))
        self._live.add(session.csrf)
        return session, self._signer.dumps({"u": session.username, "c": session.csrf})

    def end(self, session: Session) -> None:
        self._live.discard(session.csrf)

    def read(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        try:
            data = self._signer.loads(cookie, max_age=SESSION_MAX_AGE_S)
        except (BadSignature, SignatureExpired):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("u"), str) or not isinstance(data.get("c"), str):
            return None
        if data["c"] not in self._live:
            return None
        return Session(data["u"], data["c"])


def csrf_ok(session: Session, token: object) -> bool:
    return isinstance(token, str) and hmac.compare_digest(session.csrf.encode(), token.encode())
