"""The cluster's SSH key type and size: the choices, Ganeti's defaults, and how a size is chosen.

Ganeti stores `ssh_key_type` and `ssh_key_bits` in the cluster at `gnt-cluster init` (rsa, 2048 by
default) and every later key it makes follows them unless told otherwise; `renew-crypto
--new-ssh-keys --ssh-key-type T` without a size keeps the cluster's size when T is the cluster's
type, and takes T's default otherwise (Ganeti's DetermineKeyBits). gnt offers ed25519 beside rsa
and ecdsa and refuses dsa (OpenSSH no longer accepts it) and rsa keys under 2048 bits. One table
here, so init, renew-crypto, node add and the CLIs cannot disagree.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_BITS",
    "DEFAULT_TYPE",
    "KEY_TYPES",
    "bits_problem",
    "check_options",
    "choose_bits",
    "type_problem",
]

#: the key types gnt makes, in the order messages name them
KEY_TYPES = ("ed25519", "rsa", "ecdsa")
#: Ganeti's default type and, per type, the size used when none is given (Ganeti's, and ed25519's only one)
DEFAULT_TYPE = "rsa"
DEFAULT_BITS = {"rsa": 2048, "ecdsa": 384, "ed25519": 256}
_RSA_RANGE = (2048, 16384)
_ECDSA_SIZES = (256, 384, 521)


def type_problem(key_type: str) -> str | None:
    """Why `key_type` cannot be the cluster's key type, or None."""
    if key_type not in KEY_TYPES:
        return f"must be {', '.join(KEY_TYPES[:-1])} or {KEY_TYPES[-1]}, not '{key_type}'"
    return None


def bits_problem(key_type: str, bits: int) -> str | None:
    """Why a `key_type` key cannot have `bits` bits, or None (`key_type` must be valid)."""
    if key_type == "rsa":
        ok = _RSA_RANGE[0] <= bits <= _RSA_RANGE[1]
    elif key_type == "ecdsa":
        ok = bits in _ECDSA_SIZES
    else:
        ok = bits == DEFAULT_BITS["ed25519"]
    return None if ok else f"{bits} bits is not a size of {key_type} keys"


def choose_bits(key_type: str, bits: int | None, old_type: str | None, old_bits: int | None) -> int:
    """The size of a new `key_type` key: `bits` when given, else the cluster's size if it keeps its
    type (`old_type`), else the type's default."""
    if bits:
        return bits
    if old_type == key_type and old_bits:
        return old_bits
    return DEFAULT_BITS[key_type]


def check_options(key_type: str | None, bits: int | None) -> str | None:
    """--ssh-key-type and --ssh-key-bits as given (init, renew-crypto): the type lower-cased, or
    ValueError naming the option. A size without a type is checked against the type it will go
    with by the caller (init: the default type; renew-crypto: the master, against the cluster's)."""
    if key_type is None:
        if bits is not None and bits <= 0:
            raise ValueError(f"--ssh-key-bits {bits} is not a key size")
        return None
    key_type = key_type.lower()
    problem = type_problem(key_type)
    if problem:
        raise ValueError(f"--ssh-key-type {problem}")
    if bits is not None and bits_problem(key_type, bits):
        raise ValueError(f"--ssh-key-bits {bits} is not valid for {key_type} keys")
    return key_type
