"""systemd units for gnt's daemons, made as text from where gnt is installed (pure functions, golden-tested).

The units name the console scripts of the install that writes them (a venv or /usr/local), so
`gnt-daemon-util install-units` run by that install's Python points systemd at the same code.
gnt-watcher runs from a timer every five minutes, as Ganeti's watcher runs from cron.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Daemon:
    module: str  # what `python -m` runs
    description: str
    after: str  # what must be up first


DAEMONS: dict[str, Daemon] = {
    "gnt-noded": Daemon("daemons.noded", "gnt node daemon", "network-online.target"),
    "gnt-masterd": Daemon("daemons.masterd", "gnt master daemon (job queue, config, RAPI)", "gnt-noded.service"),
}
UNIT_NAMES = {name: f"{name}.service" for name in DAEMONS}
WATCHER = "gnt-watcher"
WATCHER_INTERVAL = "5min"


def daemon_unit(name: str, bindir: str) -> str:
    daemon = DAEMONS[name]
    return "\n".join(
        [
            "[Unit]",
            f"Description={daemon.description}",
            f"Wants={daemon.after}" if daemon.after.endswith(".target") else f"Requires={daemon.after}",
            f"After={daemon.after}",
            "",
            "[Service]",
            "Type=simple",
            f"ExecStart={os.path.join(bindir, name)}",
            "Restart=on-failure",
            "RestartSec=2s",
            # the daemons leave their guests running when they stop (a restart must not stop instances)
            "KillMode=process",
            "UMask=0077",
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )


def watcher_units(bindir: str) -> dict[str, str]:
    service = "\n".join(
        [
            "[Unit]",
            "Description=gnt watcher: restart crashed instances, finish disk cleanups, archive old jobs",
            "After=gnt-noded.service",
            "",
            "[Service]",
            "Type=oneshot",
            f"ExecStart={os.path.join(bindir, WATCHER)}",
            "",
        ]
    )
    timer = "\n".join(
        [
            "[Unit]",
            "Description=Run the gnt watcher every five minutes",
            "",
            "[Timer]",
            "OnBootSec=1min",
            f"OnUnitActiveSec={WATCHER_INTERVAL}",
            "",
            "[Install]",
            "WantedBy=timers.target",
            "",
        ]
    )
    return {f"{WATCHER}.service": service, f"{WATCHER}.timer": timer}


def render_units(bindir: str) -> dict[str, str]:
    """Every unit file gnt ships: filename -> text."""
    units = {UNIT_NAMES[name]: daemon_unit(name, bindir) for name in DAEMONS}
    units.update(watcher_units(bindir))
    return units
