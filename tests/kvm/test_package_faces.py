"""Lazy package faces: value modules import without the engines, public names still work."""

from __future__ import annotations

import subprocess
import sys

import pytest

import workbench.kvm
import workbench.kvm.guest

HEAVY = ("unicorn", "capstone", "workbench.hostkvm", "workbench.kvm.sim")


def loaded_after(statement: str) -> set[str]:
    """Which HEAVY modules a fresh interpreter holds after running `statement`."""
    code = f"import sys\n{statement}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize("statement", [
    "import workbench.kvm.filter, workbench.kvm.uapi",
    "import workbench.session.eventlog",
    "from workbench.kvm import MsrFilter, MsrFilterRange, uapi, HostTraits, VcpuExit",
    "import workbench.kvm.guest.layout, workbench.kvm.msrs.catalogue",
])
def test_value_modules_load_no_engine(statement):
    assert loaded_after(statement) == set()


def test_the_engines_load_when_used():
    assert {"unicorn", "workbench.kvm.sim"} <= loaded_after(
        "import workbench.kvm; workbench.kvm.open('sim')")
    assert "capstone" in loaded_after("import workbench.kvm; workbench.kvm.guest.assemble")


@pytest.mark.parametrize("face", [workbench.kvm, workbench.kvm.guest])
def test_every_public_name_resolves(face):
    for name in face.__all__:
        assert getattr(face, name) is not None, name
        assert name in dir(face)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        face.nope  # noqa: B018


def test_names_are_the_objects_they_were():
    from workbench.kvm import exits, filter, regs, sim, uapi  # noqa: A004
    from workbench.kvm.guest import assembler

    kvm = workbench.kvm
    assert (kvm.uapi, kvm.MsrFilter, kvm.MsrFilterRange) == (
        uapi, filter.MsrFilter, filter.MsrFilterRange)
    assert (kvm.VcpuExit, kvm.MsrExit, kvm.IoExit, kvm.Regs, kvm.SimOnlyError) == (
        exits.VcpuExit, exits.MsrExit, exits.IoExit, regs.Regs, sim.SimOnlyError)
    assert workbench.kvm.guest.assemble is assembler.assemble
    assert callable(kvm.host_traits) and kvm.host_traits.__module__ == "workbench.kvm", \
        "the host_traits() function, not the submodule of that name"
