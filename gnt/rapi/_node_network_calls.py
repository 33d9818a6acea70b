"""GanetiRapiClient's node, node-storage, network and cluster-modify methods, with Ganeti's names,
arguments and bodies (the body forms of Ganeti's current servers: gnt answers to them all).

A mixin: `gnt.rapi.client.GanetiRapiClient` supplies `_SendRequest`. Operations return job ids.
"""

from __future__ import annotations

from typing import Any

from gnt.rapi._query import Query, flags, set_if
from gnt.rapi._query import tags as _tags

__all__ = ["NodeNetworkCalls"]


class NodeNetworkCalls:
    """Methods under /2/nodes/NAME, /2/networks and /2/modify."""

    def _SendRequest(self, method: str, path: str, query: Query | None, content: Any) -> Any:  # noqa: N802
        raise NotImplementedError  # supplied by GanetiRapiClient

    # -- cluster -------------------------------------------------------------------------------
    def ModifyCluster(self, reason: str | None = None, **kwargs: Any) -> Any:  # noqa: N802
        return self._SendRequest("PUT", "/2/modify", flags(reason=reason), kwargs)

    # -- nodes ---------------------------------------------------------------------------------
    def SetNodeRole(  # noqa: N802
        self, node: str, role: str, force: bool = False, auto_promote: bool | None = None, reason: str | None = None
    ) -> Any:
        query = flags(force=force)
        if auto_promote is not None:
            query.append(("auto-promote", auto_promote))
        return self._SendRequest("PUT", f"/2/nodes/{node}/role", query + flags(reason=reason), role)

    def ModifyNode(self, node: str, reason: str | None = None, **kwargs: Any) -> Any:  # noqa: N802
        return self._SendRequest("POST", f"/2/nodes/{node}/modify", flags(reason=reason), kwargs)

    def PowercycleNode(self, node: str, force: bool = False, reason: str | None = None) -> Any:  # noqa: N802
        return self._SendRequest("POST", f"/2/nodes/{node}/powercycle", flags(force=force, reason=reason), None)

    def EvacuateNode(  # noqa: N802
        self,
        node: str,
        iallocator: str | None = None,
        remote_node: str | None = None,
        dry_run: bool = False,
        early_release: bool | None = None,
        mode: str | None = None,
        accept_old: bool = False,
        reason: str | None = None,
    ) -> Any:
        """`accept_old` is accepted for compatibility: gnt's server always takes the body form."""
        from gnt.rapi.client import GanetiApiError

        if iallocator and remote_node:
            raise GanetiApiError("Only one of iallocator or remote_node can be used")
        body = set_if({}, iallocator=iallocator, remote_node=remote_node, early_release=early_release, mode=mode)
        return self._SendRequest("POST", f"/2/nodes/{node}/evacuate", flags(dry_run, reason=reason), body)

    def MigrateNode(  # noqa: N802
        self,
        node: str,
        mode: str | None = None,
        dry_run: bool = False,
        iallocator: str | None = None,
        target_node: str | None = None,
        reason: str | None = None,
    ) -> Any:
        body = set_if({}, mode=mode, iallocator=iallocator, target_node=target_node)
        return self._SendRequest("POST", f"/2/nodes/{node}/migrate", flags(dry_run, reason=reason), body)

    def GetNodeStorageUnits(  # noqa: N802
        self, node: str, storage_type: str, output_fields: str, reason: str | None = None
    ) -> Any:
        query: Query = [("storage_type", storage_type), ("output_fields", output_fields)]
        return self._SendRequest("GET", f"/2/nodes/{node}/storage", query + flags(reason=reason), None)

    def ModifyNodeStorageUnits(  # noqa: N802
        self, node: str, storage_type: str, name: str, allocatable: bool | None = None, reason: str | None = None
    ) -> Any:
        query: Query = [("storage_type", storage_type), ("name", name)]
        if allocatable is not None:
            query.append(("allocatable", allocatable))
        return self._SendRequest("PUT", f"/2/nodes/{node}/storage/modify", query + flags(reason=reason), None)

    def RepairNodeStorageUnits(self, node: str, storage_type: str, name: str, reason: str | None = None) -> Any:  # noqa: N802
        query: Query = [("storage_type", storage_type), ("name", name)]
        return self._SendRequest("PUT", f"/2/nodes/{node}/storage/repair", query + flags(reason=reason), None)

    # -- networks ------------------------------------------------------------------------------
    def GetNetworks(self, bulk: bool = False, reason: str | None = None) -> list[Any]:  # noqa: N802
        query: Query = [("bulk", 1)] if bulk else []
        networks = self._SendRequest("GET", "/2/networks", query + flags(reason=reason), None)
        return list(networks) if bulk else [n["name"] for n in networks]

    def GetNetwork(self, network: str, reason: str | None = None) -> Any:  # noqa: N802
        return self._SendRequest("GET", f"/2/networks/{network}", flags(reason=reason), None)

    def CreateNetwork(  # noqa: N802
        self,
        network_name: str,
        network: str,
        gateway: str | None = None,
        network6: str | None = None,
        gateway6: str | None = None,
        mac_prefix: str | None = None,
        add_reserved_ips: Any = None,
        tags: Any = None,
        dry_run: bool = False,
        reason: str | None = None,
    ) -> Any:
        """`add_reserved_ips` and `tags` may be comma-separated strings, as Ganeti's client takes them."""
        body = {
            "network_name": network_name,
            "gateway": gateway,
            "network": network,
            "gateway6": gateway6,
            "network6": network6,
            "mac_prefix": mac_prefix,
            "add_reserved_ips": add_reserved_ips.split(",") if isinstance(add_reserved_ips, str) else add_reserved_ips,
            "tags": tags.split(",") if isinstance(tags, str) else tags,
        }
        return self._SendRequest("POST", "/2/networks", flags(dry_run, reason=reason), body)

    def ConnectNetwork(  # noqa: N802
        self,
        network_name: str,
        group_name: str,
        mode: str,
        link: str,
        vlan: str = "",
        dry_run: bool = False,
        reason: str | None = None,
    ) -> Any:
        body = {"group_name": group_name, "network_mode": mode, "network_link": link, "network_vlan": vlan}
        return self._SendRequest("PUT", f"/2/networks/{network_name}/connect", flags(dry_run, reason=reason), body)

    def DisconnectNetwork(  # noqa: N802
        self, network_name: str, group_name: str, dry_run: bool = False, reason: str | None = None
    ) -> Any:
        body = {"group_name": group_name}
        return self._SendRequest("PUT", f"/2/networks/{network_name}/disconnect", flags(dry_run, reason=reason), body)

    def ModifyNetwork(self, network: str, reason: str | None = None, **kwargs: Any) -> Any:  # noqa: N802
        """As Ganeti's client, which builds the reason but sends no query with this call."""
        return self._SendRequest("PUT", f"/2/networks/{network}/modify", flags(reason=reason) or None, kwargs)

    def DeleteNetwork(self, network: str, dry_run: bool = False, reason: str | None = None) -> Any:  # noqa: N802
        return self._SendRequest("DELETE", f"/2/networks/{network}", flags(dry_run, reason=reason), None)

    def GetNetworkTags(self, network: str, reason: str | None = None) -> list[str]:  # noqa: N802
        return list(self._SendRequest("GET", f"/2/networks/{network}/tags", flags(reason=reason), None))

    def AddNetworkTags(  # noqa: N802
        self, network: str, tags: list[str], dry_run: bool = False, reason: str | None = None
    ) -> Any:
        return self._SendRequest("PUT", f"/2/networks/{network}/tags", _tags(tags, dry_run, reason), None)

    def DeleteNetworkTags(  # noqa: N802
        self, network: str, tags: list[str], dry_run: bool = False, reason: str | None = None
    ) -> Any:
        return self._SendRequest("DELETE", f"/2/networks/{network}/tags", _tags(tags, dry_run, reason), None)
