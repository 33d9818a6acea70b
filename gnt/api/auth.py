"""RAPI authentication: Ganeti's users file and HTTP basic auth.

The file holds one user per line, `name password [options]` ('#' starts a comment). A password is
either `{HA1}<md5 hex of "name:Ganeti Remote API:password">` (recommended: the file then holds no
password), `{CLEARTEXT}password`, or a plain password not starting with '{'; scheme prefixes are
case-insensitive, as in Ganeti. The option `write` grants write access.

A users file that group or others may read is refused as a whole (no user can log in, and the
master logs why): such a file leaks passwords or hashes that can be attacked offline.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import stat
from dataclasses import dataclass

__all__ = ["REALM", "User", "UsersFile", "authenticate", "ha1", "parse_users", "read_users_file"]

log = logging.getLogger("gnt-masterd")

#: Ganeti's realm; part of every {HA1} hash, so hashes made for Ganeti work unchanged
REALM = "Ganeti Remote API"


@dataclass(frozen=True)
class User:
    name: str
    scheme: str  # "ha1" or "cleartext"
    secret: str
    write: bool

    def password_matches(self, password: str) -> bool:
        """Constant-time comparison of what the client sent with what the file holds."""
        if self.scheme == "ha1":
            return hmac.compare_digest(ha1(self.name, password), self.secret.lower())
        return hmac.compare_digest(self.secret.encode(), password.encode())


def ha1(user: str, password: str) -> str:
    """md5("user:Ganeti Remote API:password") in hex, as Ganeti's users file stores it."""
    return hashlib.md5(f"{user}:{REALM}:{password}".encode(), usedforsecurity=False).hexdigest()


def _parse_line(line: str, number: int) -> User | None:
    parts = line.split("#", 1)[0].split()
    if len(parts) < 2:
        return None
    name, password = parts[0], parts[1]
    write = len(parts) > 2 and "write" in parts[2].split(",")
    if password.startswith("{"):
        scheme, sep, secret = password[1:].partition("}")
        scheme = scheme.lower()
        if not sep or scheme not in ("ha1", "cleartext"):
            log.error("RAPI users file line %d: unknown password scheme for user %s; user ignored", number, name)
            return None
        if scheme == "ha1" and (len(secret) != 32 or any(c not in "0123456789abcdefABCDEF" for c in secret)):
            log.error("RAPI users file line %d: {HA1} for user %s is not an MD5 hex digest; user ignored", number, name)
            return None
        return User(name, scheme, secret, write)
    return User(name, "cleartext", password, write)


def parse_users(text: str) -> dict[str, User]:
    users: dict[str, User] = {}
    for number, line in enumerate(text.splitlines(), 1):
        user = _parse_line(line, number)
        if user is not None:
            users[user.name] = user
    return users


def read_users_file(path: str) -> dict[str, User]:
    """The users in `path`; none if it is missing, unreadable or readable by group/others."""
    try:
        with open(path) as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                log.error(
                    "RAPI users file %s has mode %o: group/others may access it; refusing every RAPI login"
                    " until it is fixed (chmod 600 %s)",
                    path,
                    stat.S_IMODE(mode),
                    path,
                )
                return {}
            return parse_users(handle.read())
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as err:
        log.error("cannot read the RAPI users file %s: %s", path, err)
        return {}


class UsersFile:
    """The RAPI users file, re-read whenever it (or its mode) changes: no restart to add a user."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._stamp: tuple[int, ...] | None = None
        self._users: dict[str, User] = {}

    def current(self) -> dict[str, User]:
        try:
            st = os.stat(self.path)
        except OSError:
            self._stamp, self._users = None, {}
            return self._users
        stamp = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_mode)
        if stamp != self._stamp:
            self._stamp, self._users = stamp, read_users_file(self.path)
        return self._users


def authenticate(header: str, users: dict[str, User]) -> User | None:
    """The user a `Basic` Authorization header proves to be, or None."""
    if not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError, binascii.Error):
        return None
    entry = users.get(user)
    if entry is None or not entry.password_matches(password):
        return None
    return entry
