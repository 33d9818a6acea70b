"""gnt-cluster activate-master-ip, deactivate-master-ip and rename (the commands that move the master IP)."""

from __future__ import annotations

import click

from gnt.cli.common import CONTEXT, client, common_job_options, confirm, handle_errors, job_fields
from gnt.cli.jobs import run_ops


@click.command("activate-master-ip", context_settings=CONTEXT)
@common_job_options
@handle_errors
def activate_master_ip(submit: bool, dry_run: bool, priority: str) -> None:
    """Put the cluster's master IP up on the master node (it is already there while the master runs).

    \b
    Example:
      gnt-cluster activate-master-ip
    """
    run_ops(client(), [{"OP_ID": "OP_CLUSTER_ACTIVATE_MASTER_IP", **job_fields(dry_run, priority)}], submit)


@click.command("deactivate-master-ip", context_settings=CONTEXT)
@click.option("--yes", "-f", "--force", "yes", is_flag=True, help="Do not ask for confirmation")
@common_job_options
@handle_errors
def deactivate_master_ip(yes: bool, submit: bool, dry_run: bool, priority: str) -> None:
    """Take the cluster's master IP down (clients using the cluster name lose the master until it is back).

    \b
    Example:
      gnt-cluster deactivate-master-ip --yes
    """
    confirm("Take the master IP down (clients using the cluster name will not reach the master)", yes)
    run_ops(client(), [{"OP_ID": "OP_CLUSTER_DEACTIVATE_MASTER_IP", **job_fields(dry_run, priority)}], submit)


@click.command("rename", context_settings=CONTEXT)
@click.argument("name")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation")
@common_job_options
@handle_errors
def rename(name: str, force: bool, submit: bool, dry_run: bool, priority: str) -> None:
    """Rename the cluster; with a master IP, the new name's address becomes the master IP.

    \b
    Example:
      gnt-cluster rename -f cluster2.example.com
    """
    confirm(
        f"Rename the cluster to '{name}' (if you are connected over the network to the cluster name, the master"
        " IP is removed from the node and the change may not go through)",
        force,
    )
    run_ops(client(), [{"OP_ID": "OP_CLUSTER_RENAME", "name": name, **job_fields(dry_run, priority)}], submit)


COMMANDS = (activate_master_ip, deactivate_master_ip, rename)
