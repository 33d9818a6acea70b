"""pytest fixtures for the kvm system tests (defined in kvmtest.py, importable by a unique name)."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from kvmtest import accel_verdict, guest_files, make_node, netns  # noqa: E402, F401
