"""The cluster's SSH key: made once on the master, its public half put where each node's sshd looks.

Where sshd looks is its `AuthorizedKeysFile` setting, not always `~/.ssh/authorized_keys` (Ganeti
assumes that path, its issue #1195). `sshd -T` prints the setting in effect (Include and Match
applied); when it cannot run, the config file's own line is used. These are pure functions over
that text; gnt.node.join reads it from the node.
"""

from __future__ import annotations

import os
import re
import shlex

from gnt import paths

__all__ = [
    "DEFAULT_AUTHORIZED_KEYS",
    "KEY_COMMENT",
    "add_key",
    "authorized_keys_files",
    "ensure_cluster_key",
    "has_key",
    "remove_key",
]

#: OpenSSH's default AuthorizedKeysFile
DEFAULT_AUTHORIZED_KEYS = (".ssh/authorized_keys", ".ssh/authorized_keys2")
#: the comment on the cluster's key line (what an admin reading authorized_keys sees)
KEY_COMMENT = "gnt-cluster"


_LINE = re.compile(r"^\s*(\w+)(?:\s*=\s*|\s+)(.*?)\s*$")


def _setting(text: str, from_sshd_t: bool) -> list[str] | None:
    """The AuthorizedKeysFile values in sshd -T output or in sshd_config (its first line outside Match)."""
    for line in text.splitlines():
        match = _LINE.match(line)
        if not match or line.lstrip().startswith("#"):
            continue
        keyword, value = match.group(1).lower(), match.group(2)
        if keyword == "match" and not from_sshd_t:
            return None  # sshd takes the first value; what follows a Match applies only to some logins
        if keyword == "authorizedkeysfile":
            return shlex.split(value)
    return None


def authorized_keys_files(config: str, user: str, home: str, uid: int, from_sshd_t: bool = True) -> list[str]:
    """Absolute paths of the files sshd reads a user's keys from, in its order (empty: `none`).

    Tokens as sshd(8) expands them: %% a percent sign, %h the home directory, %u the user, %U the uid;
    a relative path is relative to the home directory.
    """
    values = _setting(config, from_sshd_t) or list(DEFAULT_AUTHORIZED_KEYS)
    result = []
    for value in values:
        if value.lower() == "none":
            continue
        expanded, i = [], 0
        while i < len(value):
            if value[i] == "%" and i + 1 < len(value):
                token = value[i + 1]
                expanded.append({"%": "%", "h": home, "u": user, "U": str(uid)}.get(token, "%" + token))
                i += 2
            else:
                expanded.append(value[i])
                i += 1
        path = "".join(expanded)
        result.append(os.path.normpath(path if path.startswith("/") else os.path.join(home, path)))
    return result


def _key_fields(line: str) -> tuple[str, str] | None:
    """(type, base64) of an authorized_keys line, options in front skipped; None for comments."""
    parts = line.split()
    for i, part in enumerate(parts[:-1]):
        if part.startswith(("ssh-", "ecdsa-", "sk-")):
            return part, parts[i + 1]
    return None


def has_key(text: str, public_key: str) -> bool:
    wanted = _key_fields(public_key)
    return wanted is not None and any(_key_fields(line) == wanted for line in text.splitlines())


def add_key(text: str, public_key: str) -> str | None:
    """The file with the key added at the end, or None when it is there already (nothing to write)."""
    if has_key(text, public_key):
        return None
    kind, data = _key_fields(public_key) or ("", "")
    if not kind:
        raise ValueError("not an SSH public key")
    if text and not text.endswith("\n"):
        text += "\n"
    return f"{text}{kind} {data} {KEY_COMMENT}\n"


def remove_key(text: str, public_key: str) -> str | None:
    """The file without the key's lines, or None when it holds no such line (nothing to write)."""
    wanted = _key_fields(public_key)
    kept = [line for line in text.splitlines(keepends=True) if _key_fields(line) != wanted]
    return None if len(kept) == len(text.splitlines(keepends=True)) else "".join(kept)


def ensure_cluster_key(key_type: str, bits: int) -> str:
    """The cluster's public key ("TYPE BASE64"), the key pair made on first use (root only) with the
    cluster's type and size (its `ssh_key_type`/`ssh_key_bits`)."""
    private_path = paths.ssh_key()
    public_path = private_path + ".pub"
    if not os.path.exists(private_path):
        from gnt.node.ssh_roll import generate_key_pair

        private, public = generate_key_pair(key_type, bits)
        os.makedirs(os.path.dirname(private_path), mode=0o700, exist_ok=True)
        tmp = private_path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(private)
        with open(public_path, "w") as handle:
            handle.write(f"{public} {KEY_COMMENT}\n")
        os.rename(tmp, private_path)
    with open(public_path) as handle:
        return " ".join(handle.read().split()[:2])


def cluster_public_key() -> str | None:
    """The cluster's public key if it has one (a virtual cluster, or one that never joined a real node, has none)."""
    try:
        with open(paths.ssh_key() + ".pub") as handle:
            return " ".join(handle.read().split()[:2]) or None
    except FileNotFoundError:
        return None
