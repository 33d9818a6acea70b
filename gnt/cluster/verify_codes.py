"""Ganeti's `gnt-cluster verify` error codes and optional checks, without imports, so that the opcode
declarations can validate `ignore_errors` and `skip_checks` against them."""

from __future__ import annotations

__all__ = ["ERROR_CODES", "N1_CHECK", "OPTIONAL_CHECKS", "check_error_codes", "check_optional_checks"]

#: the optional check `--no-nplus1-mem` skips (Ganeti's `nplusone_mem`)
N1_CHECK = "nplusone_mem"

#: Ganeti's verify error codes (the ones gnt reports), by object type; `-I CODE` takes these names
ERROR_CODES: dict[str, str] = {
    "ECLUSTERCFG": "cluster",
    "ECLUSTERCERT": "cluster",
    "EGROUPDIFFERENTPVSIZE": "group",
    "ENODEDRBD": "node",
    "ENODEDRBDHELPER": "node",
    "ENODEHV": "node",
    "ENODEHOOKS": "node",
    "ENODEN1": "node",
    "ENODEORPHANINSTANCE": "node",
    "ENODEORPHANLV": "node",
    "ENODERPC": "node",
    "ENODENET": "node",
    "ENODESSH": "node",
    "ENODESSL": "node",
    "ENODEVERSION": "node",
    "ENODELVM": "node",
    "ENODEFILECHECK": "node",
    "EINSTANCEBADNODE": "instance",
    "EINSTANCEDOWN": "instance",
    "EINSTANCEFAULTYDISK": "instance",
    "EINSTANCELAYOUT": "instance",
    "EINSTANCEMISSINGDISK": "instance",
    "EINSTANCEPOLICY": "instance",
    "EINSTANCEWRONGNODE": "instance",
}


#: the checks `skip_checks` may name
OPTIONAL_CHECKS = (N1_CHECK,)


def check_error_codes(value: object) -> None:
    """Refuse an `-I` code verify does not know (a typo would otherwise silently ignore nothing)."""
    unknown = sorted(str(v) for v in (value or []) if v not in ERROR_CODES)  # type: ignore[attr-defined]
    if unknown:
        raise ValueError(f"Unknown verify error code(s): {', '.join(unknown)}; known: {', '.join(sorted(ERROR_CODES))}")


def check_optional_checks(value: object) -> None:
    unknown = sorted(str(v) for v in (value or []) if v not in OPTIONAL_CHECKS)  # type: ignore[attr-defined]
    if unknown:
        raise ValueError(f"Unknown verify check(s) to skip: {', '.join(unknown)}; known: {', '.join(OPTIONAL_CHECKS)}")
