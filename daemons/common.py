"""What every gnt daemon does the same way: logging, pid file, signals."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from gnt import paths


def setup_logging(name: str, foreground: bool) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler()] if foreground else []
    if not foreground:
        paths.ensure_dir(paths.log_dir())
        handlers.append(logging.FileHandler(paths.log_file(name)))
    logging.basicConfig(
        level=logging.INFO, handlers=handlers, format=f"%(asctime)s {name} pid=%(process)d %(levelname)s %(message)s"
    )


def write_pid(name: str) -> str:
    path = paths.pid_file(name)
    paths.ensure_dir(os.path.dirname(path))
    with open(path, "w") as handle:
        handle.write(f"{os.getpid()}\n")
    return path


def remove_pid(path: str) -> None:
    try:
        with open(path) as handle:
            if handle.read().strip() == str(os.getpid()):
                os.unlink(path)
    except OSError:
        pass


def stop_event() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT."""
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, event.set)
    return event
