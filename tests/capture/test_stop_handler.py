"""The capture's compiled stop handler: built once into the user's cache, and its raw
records decoded into the same exit events the Python stop handling writes."""

from __future__ import annotations

import errno
import shutil
import struct

import pytest

from workbench.capture import stop_handler
from workbench.capture.stop_handler import VcpuTable, decode
from workbench.capture.vmm_memory import RUN_HEAD
from workbench.kvm import uapi

needs_cc = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                              reason="no C compiler to build the stop handler with")


def _record(t: float, tid: int, slot: int, head: bytes, io: bytes = b"", err: int = 0) -> bytes:
    padding = b"\0" * (-len(io) % 8)
    return struct.pack("<diiiI", t, tid, slot, err, len(io)) + head.ljust(RUN_HEAD, b"\0") + (
        io + padding)


def _head(reason: int, member: bytes) -> bytes:
    return (bytes(8) + struct.pack("<I", reason)).ljust(uapi.KVM_RUN_EXIT_OFFSET, b"\0") + member


def test_records_decode_to_exits_answers_and_unreadable_notes():
    out_port = _head(uapi.KVM_EXIT_IO, struct.pack("<BBHIQ", 1, 2, 0x402, 1, 4096))
    rdmsr = _head(uapi.KVM_EXIT_X86_RDMSR, struct.pack("<B7xIIQ", 0, 4, 0x35, 0x10001))
    data = (_record(1.5, 7, 1, out_port, b"\x34\x12") + _record(2.5, 7, 0, rdmsr)
            + _record(3.5, 8, 1, b"", err=errno.EIO))
    table = VcpuTable()
    for fd, index in ((10, 3), (11, 5)):   # slots 0 and 1
        table.add_vcpu(tgid=7, fd=fd, index=index)
    events = list(decode(data, table.table.vcpus))
    assert events == [
        {"vcpu": 5, "reason": uapi.KVM_EXIT_IO, "io": {"direction": 1, "size": 2, "port": 0x402,
         "count": 1, "data": "3412"}, "t": 1.5, "tid": 7, "ev": "exit"},
        {"vcpu": 3, "reason": uapi.KVM_EXIT_X86_RDMSR, "msr": {
            "index": 0x35, "reason": 4, "data": 0x10001, "error": 0}, "t": 2.5, "tid": 7,
         "ev": "exit"},
        {"vcpu": 3, "index": 0x35, "reason": 4, "data": 0x10001, "error": 0, "t": 2.5,
         "tid": 7, "ev": "msr_done"},
        {"vcpu": 5, "unreadable": "Input/output error", "t": 3.5, "tid": 8, "ev": "exit"},
    ]


@needs_cc
def test_the_handler_is_built_once_into_the_users_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert stop_handler.load(VcpuTable())[0] is not None
    (built,) = (tmp_path / "kvm-trap-workbench").glob("stop_handler-*.so")
    first = built.stat().st_mtime_ns
    assert stop_handler.load(VcpuTable())[0] is not None
    assert built.stat().st_mtime_ns == first
    assert list(built.parent.glob("*.part")) == []


def test_without_a_compiler_the_tracer_handles_every_stop_itself(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))   # no cc, no gcc
    monkeypatch.delenv("CC", raising=False)
    handler, reason = stop_handler.load(VcpuTable())
    assert handler is None and "no C compiler" in reason
