"""Which logical units the master runs: the daemon's wiring, not the job layer's business.

The job layer (`gnt/jobs/`) runs whatever `Registry` it is handed; it never imports the LU
packages (they depend on it, not the other way round). New LU modules are added here.
"""

from __future__ import annotations

from gnt.jobs.lu import Registry


def logical_units() -> Registry:
    """Every LU the master daemon serves, keyed by opcode id."""
    import gnt.backup.export
    import gnt.backup.move
    import gnt.cluster.disk_sizes
    import gnt.cluster.logic
    import gnt.cluster.master_ip
    import gnt.cluster.redist
    import gnt.cluster.rename
    import gnt.cluster.renew_crypto
    import gnt.cluster.verify_disks
    import gnt.debug.iallocator
    import gnt.debug.jqueue
    import gnt.debug.logic
    import gnt.extstorage.logic
    import gnt.group.evacuate
    import gnt.group.logic
    import gnt.instance.change_group
    import gnt.instance.create
    import gnt.instance.disks
    import gnt.instance.lifecycle
    import gnt.instance.migrate
    import gnt.instance.multi_alloc
    import gnt.instance.query_data
    import gnt.instance.reinstall
    import gnt.instance.rename
    import gnt.instance.replace_disks
    import gnt.network.logic
    import gnt.node.logic
    import gnt.node.powercycle
    import gnt.node.restricted
    import gnt.node.storage
    import gnt.oob.logic
    import gnt.os.logic
    import gnt.tags.logic

    return Registry.from_modules(
        [
            gnt.backup.export,
            gnt.backup.move,
            gnt.cluster.disk_sizes,
            gnt.cluster.logic,
            gnt.cluster.master_ip,
            gnt.cluster.redist,
            gnt.cluster.renew_crypto,
            gnt.cluster.rename,
            gnt.cluster.verify_disks,
            gnt.debug.iallocator,
            gnt.debug.jqueue,
            gnt.debug.logic,
            gnt.extstorage.logic,
            gnt.group.evacuate,
            gnt.group.logic,
            gnt.instance.change_group,
            gnt.instance.create,
            gnt.instance.disks,
            gnt.instance.lifecycle,
            gnt.instance.migrate,
            gnt.instance.multi_alloc,
            gnt.instance.reinstall,
            gnt.instance.query_data,
            gnt.instance.rename,
            gnt.instance.replace_disks,
            gnt.network.logic,
            gnt.node.logic,
            gnt.node.powercycle,
            gnt.node.restricted,
            gnt.node.storage,
            gnt.oob.logic,
            gnt.os.logic,
            gnt.tags.logic,
        ]
    )
