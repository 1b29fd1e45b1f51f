"""VFIO what-if: SeaBIOS enumerating QEMU's e1000, replayed through vfio-pci."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.capture import CaptureError, load
from workbench.capture.vfio_whatif import infer_size, vfio_whatif

LOG = Path(__file__).parent / "fixtures" / "seabios-e1000.qemu.log"


@pytest.fixture(scope="module")
def seabios():
    return load(LOG)


def _command_reads(result) -> list[dict]:
    return [s.returned for s in result.steps if s.access.offset == 0x04 and not s.access.write]


def test_detached_vf_hides_mse_on_5_9_until_the_firmware_sets_it(seabios) -> None:
    result = vfio_whatif(seabios, "e1000", "detached-vf")
    assert len(result.steps) == len(seabios.config_accesses("e1000"))
    [before] = _command_reads(result)          # SeaBIOS reads the command once, then writes 0x103
    assert before["linux-5.9"] & 0x2 == 0 and before["linux-5.10"] & 0x2
    assert result.bars_at_open == {"linux-5.9": {0: "EIO"}, "linux-5.10": {0: "OK"}}
    assert result.bars == {"linux-5.9": {0: "OK"}, "linux-5.10": {0: "OK"}}
    assert [s.access.line for s in result.steps if s.profiles_differ] == [231]


@pytest.mark.parametrize("as_kind", ["pf", "vf"])
def test_pf_and_vf_answer_alike_on_both_profiles(seabios, as_kind: str) -> None:
    result = vfio_whatif(seabios, "e1000", as_kind)
    assert not any(s.profiles_differ for s in result.steps)
    assert result.bars_at_open["linux-5.9"] == result.bars["linux-5.10"] == {0: "OK"}


def test_bar_sizing_reads_come_from_vfio_not_the_trace(seabios) -> None:
    result = vfio_whatif(seabios, "e1000", "vf")
    sized = [s for s in result.steps if s.access.offset == 0x10 and not s.access.write]
    assert sized[1].access.value == 0xFFFE0000            # QEMU's 128 KiB e1000 BAR
    assert sized[1].returned["linux-5.10"] == 0xFFFFC004  # the model's 16 KiB 64-bit BAR


def test_unknown_device_names_the_ones_traced(seabios) -> None:
    with pytest.raises(CaptureError, match="i440FX"):
        vfio_whatif(seabios, "virtio", "vf")


@pytest.mark.parametrize(("offset", "value", "size"), [
    (0x00, 0x8086, 2), (0x00, 0x100E8086, 4), (0x0E, 0, 1), (0x04, 0x3, 2), (0x14, 1, 4),
    (0x3D, 1, 1), (0x08, 0x2000003, 4)])
def test_size_is_inferred_where_qemu_omits_it(offset: int, value: int, size: int) -> None:
    assert infer_size(offset, value) == size
