"""System tests of the host test bed (tools/testbed): real kernels under QEMU/TCG."""
