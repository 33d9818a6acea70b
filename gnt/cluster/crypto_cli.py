"""gnt-cluster renew-crypto: Ganeti's options, checked here so that bad input never becomes a job.

Ganeti's secrets that gnt does not have are refused by name rather than silently accepted: gnt has
no confd (so no HMAC key), no inter-cluster instance moves (so no cluster domain secret) and no
SPICE consoles. A RAPI key pair given as a file is checked here (readable, key matches certificate)
and handed to the job by path only: the key never travels in the job.
"""

from __future__ import annotations

import os
from typing import Any

import click

from gnt.cli.common import CONTEXT, client, handle_errors
from gnt.cli.jobs import run_ops
from gnt.errors import ParameterError

#: Ganeti options with no gnt counterpart, and why (one line each)
NOT_APPLICABLE = {
    "new_cluster_domain_secret": ("--new-cluster-domain-secret", "gnt has no inter-cluster instance moves"),
    "cluster_domain_secret": ("--cluster-domain-secret", "gnt has no inter-cluster instance moves"),
    "new_confd_hmac_key": ("--new-confd-hmac-key", "gnt has no confd daemon"),
    "new_spice_certificate": ("--new-spice-certificate", "gnt has no SPICE consoles"),
}


def _check_rapi_file(path: str) -> str:
    """The absolute path of a readable RAPI key pair; ParameterError (one line) otherwise."""
    from gnt import certs

    try:
        with open(path, "rb") as handle:
            pem = handle.read()
    except FileNotFoundError:
        raise ParameterError(f"--rapi-certificate: file {path} does not exist") from None
    except OSError as err:
        raise ParameterError(f"--rapi-certificate: cannot read {path}: {err.strerror}") from None
    try:
        certs.check_key_pair(pem, f"--rapi-certificate {path}")
    except ValueError as err:
        raise ParameterError(str(err)) from None
    return os.path.abspath(path)


def build_opcode(opts: dict[str, Any]) -> dict[str, Any]:
    """The OP_CLUSTER_RENEW_CRYPTO body for the options, or ParameterError for a bad combination."""
    for key, (flag, why) in NOT_APPLICABLE.items():
        if opts.get(key):
            raise ParameterError(f"{flag} does not apply: {why}, so there is no such secret to renew")
    if opts.get("new_rapi_certificate") and opts.get("rapi_certificate"):
        raise ParameterError("Only one of --new-rapi-certificate and --rapi-certificate may be given")
    ssh_tuning = opts.get("ssh_key_type") or opts.get("ssh_key_bits") is not None or opts.get("no_ssh_key_check")
    if ssh_tuning and not opts.get("new_ssh_keys"):
        raise ParameterError("--ssh-key-type, --ssh-key-bits and --no-ssh-key-check go with --new-ssh-keys")
    op: dict[str, Any] = {
        "OP_ID": "OP_CLUSTER_RENEW_CRYPTO",
        "new_cluster_certificate": bool(opts.get("new_cluster_certificate")),
        "node_certificates": bool(opts.get("new_node_certificates")),
        "node_names": list(opts.get("node") or []),
        "new_rapi_certificate": bool(opts.get("new_rapi_certificate")),
    }
    if opts.get("rapi_certificate"):
        op["rapi_certificate"] = _check_rapi_file(opts["rapi_certificate"])
    if opts.get("new_ssh_keys"):
        op.update(_ssh_fields(opts))
    if op["node_names"] and not op["node_certificates"]:
        raise ParameterError("--node names nodes whose certificates to renew: give --new-node-certificates too")
    if not any(v for k, v in op.items() if k != "OP_ID"):
        raise ParameterError(
            "Nothing to renew: give --new-cluster-certificate, --new-node-certificates, --new-rapi-certificate,"
            " --rapi-certificate or --new-ssh-keys"
        )
    return op


def _ssh_fields(opts: dict[str, Any]) -> dict[str, Any]:
    from gnt import ssh_key_spec

    bits = opts.get("ssh_key_bits")
    try:
        key_type = ssh_key_spec.check_options(opts.get("ssh_key_type"), bits)
    except ValueError as err:
        raise ParameterError(str(err)) from None
    fields: dict[str, Any] = {"new_ssh_keys": True, "verify": not opts.get("no_ssh_key_check")}
    if key_type is not None:
        fields["ssh_key_type"] = key_type
    if bits is not None:
        fields["ssh_key_bits"] = bits
    return fields


def _what(op: dict[str, Any]) -> str:
    parts = []
    if op["new_cluster_certificate"]:
        parts.append("the cluster CA and every online node's certificate")
    elif op["node_certificates"]:
        parts.append(f"the certificates of {', '.join(op['node_names']) or 'every online node'}")
    if op["new_rapi_certificate"] or op.get("rapi_certificate"):
        parts.append("the RAPI certificate")
    if op.get("new_ssh_keys"):
        parts.append("the cluster's SSH key")
    return " and ".join(parts)


@click.command("renew-crypto", context_settings=CONTEXT)
@click.option("--new-cluster-certificate", is_flag=True, help="Roll a new cluster certificate over every node")
@click.option("--new-node-certificates", is_flag=True, help="New certificates of their own for the nodes (CA-signed)")
@click.option("-n", "--node", multiple=True, metavar="NODE", help="With --new-node-certificates: only this node")
@click.option("--new-rapi-certificate", is_flag=True, help="Make a new self-signed RAPI certificate")
@click.option("--rapi-certificate", metavar="FILE", default=None, help="Install this RAPI key pair (PEM: key+cert)")
@click.option("--new-ssh-keys", is_flag=True, help="Make a new cluster SSH key and install it on every node")
@click.option(
    "--ssh-key-type", default=None, help="With --new-ssh-keys: ed25519, rsa or ecdsa (default: the cluster's type)"
)
@click.option(
    "--ssh-key-bits", type=int, default=None, help="With --new-ssh-keys: the key size (default: as Ganeti chooses)"
)
@click.option("--no-ssh-key-check", is_flag=True, help="With --new-ssh-keys: do not check nodes' host keys")
@click.option("--new-cluster-domain-secret", is_flag=True, help="Not applicable in gnt (refused)")
@click.option("--cluster-domain-secret", metavar="FILE", default=None, help="Not applicable in gnt (refused)")
@click.option("--new-confd-hmac-key", is_flag=True, help="Not applicable in gnt (refused)")
@click.option("--new-spice-certificate", is_flag=True, help="Not applicable in gnt (refused)")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation")
@click.option("-v", "--verbose", is_flag=True, help="Print the job's progress lines (always printed; accepted)")
@click.option("--submit", is_flag=True, help="Print the job id and return at once")
@handle_errors
def renew_crypto(force: bool, verbose: bool, submit: bool, **opts: Any) -> None:
    """Renew the cluster's certificates or SSH key while jobs keep running.

    The cluster certificate is rolled in three phases (trust new, present new, drop old): no RPC
    fails meanwhile and the old certificate is refused once it is done. A roll stopped by a failed
    node is saved and finished by the next run. An offline node keeps the old certificate; bring it
    back with `gnt-node add --readd NODE`. `--new-node-certificates` gives every online node (or the
    ones named with -n) a new certificate signed by the cluster CA; the one it replaces is refused.

    \b
    Example:
      gnt-cluster renew-crypto --new-cluster-certificate --new-node-certificates -f
      gnt-cluster renew-crypto --new-node-certificates -n node3 -f
      gnt-cluster renew-crypto --rapi-certificate /root/rapi.pem -f
    """
    del verbose
    op = build_opcode(opts)
    if not force and not click.confirm(f"Renew {_what(op)}?", default=False):
        raise ParameterError("Aborted: nothing was renewed (use -f to renew without asking)")
    run_ops(client(), [op], submit)
