"""Hosts with a real kernel for gnt's system tests: Debian 12 VMs under QEMU/TCG.

This machine's kernel has no device-mapper or DRBD; inside QEMU guests running Debian's kernel
both are real. The package builds a cached host image (image.py), boots N hosts on a private
network of their own (bed.py), runs commands on them over ssh, powers them off and on, and
restores them from a snapshot taken once after boot. CLI: `tools/testbed/testbed` (cli.py).
"""

from __future__ import annotations

from . import initrd, procs, seed
from .bed import Host, TestBed
from .errors import TestbedError
from .image import DEFAULT_SPEC, Image, ImageSpec, build_image, cache_dir

__all__ = [
    "DEFAULT_SPEC",
    "Host",
    "Image",
    "ImageSpec",
    "TestBed",
    "TestbedError",
    "build_image",
    "cache_dir",
    "initrd",
    "procs",
    "seed",
]
