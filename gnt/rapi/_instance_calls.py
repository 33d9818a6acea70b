"""GanetiRapiClient's instance operations beyond the basics: disks, moves, export, rename,
reinstall, console and the allocation helpers, with Ganeti's method names, arguments and bodies.

A mixin: `gnt.rapi.client.GanetiRapiClient` supplies `_SendRequest`. Each method returns what the
server answers (a job id for every operation, a dict for `GetInstanceInfo` and the console).
"""

from __future__ import annotations

from typing import Any

from gnt.rapi._query import Query, flags, set_if

__all__ = ["InstanceCalls"]

REPLACE_DISK_AUTO = "replace_auto"


class InstanceCalls:
    """Instance methods of Ganeti's client that take a path under /2/instances/NAME."""

    def _SendRequest(self, method: str, path: str, query: Query | None, content: Any) -> Any:  # noqa: N802
        raise NotImplementedError  # supplied by GanetiRapiClient

    def _instance(self, method: str, instance: str, action: str, query: Query | None, body: Any) -> Any:
        return self._SendRequest(method, f"/2/instances/{instance}/{action}", query, body)

    def GetInstanceInfo(self, instance: str, static: bool | None = None, reason: str | None = None) -> Any:  # noqa: N802
        query: Query = [("static", static)] if static is not None else []
        return self._instance("GET", instance, "info", query + flags(reason=reason), None)

    def GetInstanceConsole(self, instance: str, reason: str | None = None) -> Any:  # noqa: N802
        return self._instance("GET", instance, "console", flags(reason=reason), None)

    def ActivateInstanceDisks(self, instance: str, ignore_size: bool | None = None, reason: str | None = None) -> Any:  # noqa: N802
        query: Query = [("ignore_size", 1)] if ignore_size else []
        return self._instance("PUT", instance, "activate-disks", query + flags(reason=reason), None)

    def DeactivateInstanceDisks(self, instance: str, reason: str | None = None, force: bool = False) -> Any:  # noqa: N802
        return self._instance("PUT", instance, "deactivate-disks", flags(force=force, reason=reason), None)

    def RecreateInstanceDisks(  # noqa: N802
        self,
        instance: str,
        disks: list[Any] | None = None,
        nodes: list[str] | None = None,
        reason: str | None = None,
        iallocator: str | None = None,
    ) -> Any:
        body = set_if({}, disks=disks, nodes=nodes, iallocator=iallocator)
        return self._instance("POST", instance, "recreate-disks", flags(reason=reason), body)

    def GrowInstanceDisk(  # noqa: N802
        self, instance: str, disk: int, amount: int, wait_for_sync: bool | None = None, reason: str | None = None
    ) -> Any:
        body = set_if({"amount": amount}, wait_for_sync=wait_for_sync)
        return self._instance("POST", instance, f"disk/{disk}/grow", flags(reason=reason), body)

    def ReplaceInstanceDisks(  # noqa: N802
        self,
        instance: str,
        disks: list[int] | None = None,
        mode: str = REPLACE_DISK_AUTO,
        remote_node: str | None = None,
        iallocator: str | None = None,
        reason: str | None = None,
        early_release: bool | None = None,
    ) -> Any:
        query: Query = [("mode", mode)]
        if disks is not None:
            query.append(("disks", ",".join(str(index) for index in disks)))
        if remote_node is not None:
            query.append(("remote_node", remote_node))
        if iallocator is not None:
            query.append(("iallocator", iallocator))
        query += flags(reason=reason)
        if early_release is not None:
            query.append(("early_release", early_release))
        return self._instance("POST", instance, "replace-disks", query, None)

    def MigrateInstance(  # noqa: N802
        self,
        instance: str,
        mode: str | None = None,
        cleanup: bool | None = None,
        target_node: str | None = None,
        reason: str | None = None,
    ) -> Any:
        body = set_if({}, mode=mode, cleanup=cleanup, target_node=target_node)
        return self._instance("PUT", instance, "migrate", flags(reason=reason), body)

    def FailoverInstance(  # noqa: N802
        self,
        instance: str,
        iallocator: str | None = None,
        ignore_consistency: bool | None = None,
        target_node: str | None = None,
        reason: str | None = None,
    ) -> Any:
        body = set_if({}, iallocator=iallocator, ignore_consistency=ignore_consistency, target_node=target_node)
        return self._instance("PUT", instance, "failover", flags(reason=reason), body)

    def RenameInstance(  # noqa: N802
        self,
        instance: str,
        new_name: str,
        ip_check: bool | None = None,
        name_check: bool | None = None,
        reason: str | None = None,
    ) -> Any:
        body = set_if({"new_name": new_name}, ip_check=ip_check, name_check=name_check)
        return self._instance("PUT", instance, "rename", flags(reason=reason), body)

    def ReinstallInstance(  # noqa: N802
        self,
        instance: str,
        os: str | None = None,
        no_startup: bool = False,
        osparams: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> Any:
        """The body form Ganeti's client uses with servers that have `instance-reinst-reqv1`."""
        body = set_if({"start": not no_startup}, os=os, osparams=osparams)
        return self._instance("POST", instance, "reinstall", flags(reason=reason), body)

    def PrepareExport(self, instance: str, mode: str, reason: str | None = None) -> Any:  # noqa: N802
        return self._instance("PUT", instance, "prepare-export", [("mode", mode)] + flags(reason=reason), None)

    def ExportInstance(  # noqa: N802
        self,
        instance: str,
        mode: str,
        destination: Any,
        shutdown: bool | None = None,
        remove_instance: bool | None = None,
        x509_key_name: Any = None,
        destination_x509_ca: Any = None,
        compress: str | None = None,
        reason: str | None = None,
    ) -> Any:
        body = set_if(
            {"destination": destination, "mode": mode},
            shutdown=shutdown,
            remove_instance=remove_instance,
            x509_key_name=x509_key_name,
            destination_x509_ca=destination_x509_ca,
            compress=compress,
        )
        return self._instance("PUT", instance, "export", flags(reason=reason), body)

    # -- allocation (several instances in one job) ---------------------------------------------
    @staticmethod
    def InstanceAllocation(  # noqa: N802
        mode: str, name: str, disk_template: str, disks: list[Any], nics: list[Any], **kwargs: Any
    ) -> dict[str, Any]:
        """One instance's entry for `InstancesMultiAlloc` (no request is sent)."""
        base = {"mode": mode, "name": name, "disk_template": disk_template, "disks": disks, "nics": nics}
        return _with_kwargs(base, kwargs)

    def InstancesMultiAlloc(self, instances: list[dict[str, Any]], reason: str | None = None, **kwargs: Any) -> Any:  # noqa: N802
        body = _with_kwargs({"instances": instances}, kwargs)
        query = flags(bool(kwargs.get("dry_run")), reason=reason)
        return self._SendRequest("POST", "/2/instances-multi-alloc", query, body)


def _with_kwargs(base: dict[str, Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Ganeti's _UpdateWithKwargs: keywords become body fields, never replacing a required one."""
    from gnt.rapi.client import GanetiApiError

    clash = sorted(set(kwargs) & set(base))
    if clash:
        raise GanetiApiError(f"Required fields can not be specified as keywords: {', '.join(clash)}")
    base.update((key, value) for key, value in kwargs.items() if key != "dry_run")
    return base
