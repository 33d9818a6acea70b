"""Boot files for QEMU guests, shared by the kvm test guest (tools/testguest.py) and the host test bed.

Standard library only: testguest runs as a plain script (the demo) and the test bed as a package,
and both import this module. Errors are ValueError; each caller turns them into its own error type.
"""

from __future__ import annotations

import gzip
import io
import lzma
import os

#: one initramfs member: path inside the archive, st_mode, contents
Member = tuple[str, int, bytes]


def extract_vmlinux(bzimage: str, dest: str) -> None:
    """Write the ELF vmlinux inside an xz-compressed bzImage to `dest` (what scripts/extract-vmlinux does).

    QEMU boots an ELF vmlinux through its PVH entry point, which skips the real-mode setup and the
    decompression: half the boot time under TCG.
    """
    with open(bzimage, "rb") as handle:
        data = handle.read()
    start = data.find(b"\xfd7zXZ\x00")
    if start < 0:
        raise ValueError(f"{bzimage}: no xz payload (kernel not compressed with xz?)")
    out = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[start:])
    if not out.startswith(b"\x7fELF"):
        raise ValueError(f"{bzimage}: payload is not an ELF vmlinux")
    with open(dest + ".tmp", "wb") as handle:
        handle.write(out)
    os.replace(dest + ".tmp", dest)


def _cpio_entry(out: io.BytesIO, ino: int, name: str, mode: int, data: bytes = b"") -> None:
    encoded = name.encode() + b"\0"
    fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0]
    out.write(b"070701" + b"".join(b"%08X" % v for v in fields) + encoded)
    out.write(b"\0" * (-(110 + len(encoded)) % 4) + data + b"\0" * (-len(data) % 4))


def write_initramfs(dest: str, members: list[Member]) -> None:
    """Write `members` as a gzip'd newc cpio archive (the kernel's initramfs format), atomically."""
    out = io.BytesIO()
    for ino, (name, mode, data) in enumerate(members, start=1):
        _cpio_entry(out, ino, name, mode, data)
    _cpio_entry(out, 0, "TRAILER!!!", 0)
    with gzip.open(dest + ".tmp", "wb", compresslevel=1) as handle:
        handle.write(out.getvalue())
    os.replace(dest + ".tmp", dest)
