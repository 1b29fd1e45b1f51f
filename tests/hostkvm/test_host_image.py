"""The runtime image both engines load: page tables, GDT, IDT and the #GP handler."""

from __future__ import annotations

import struct

from workbench.kvm.guest import assemble
from workbench.kvm.guest.image import (
    GDT,
    GP_HANDLER_CODE,
    GP_HANDLER_SOURCE,
    IDT_ENTRIES,
    PD_BASE,
    PDPT_BASE,
    PML4_BASE,
    guest_image,
)
from workbench.kvm.guest.layout import (
    GDT_BASE,
    GP_HANDLER_BASE,
    GUEST_MEM_SIZE,
    IDT_BASE,
)


def _regions():
    return dict(guest_image(assemble("hlt")))


def test_hand_encoded_handler_is_its_source():
    assert assemble(GP_HANDLER_SOURCE).code == GP_HANDLER_CODE


def test_regions_fit_in_ram_and_do_not_overlap():
    spans = sorted((address, address + len(data)) for address, data in guest_image(
        assemble("nop\nhlt")))
    assert all(end <= GUEST_MEM_SIZE for _, end in spans)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:], strict=False))


def test_program_is_loaded_at_its_base():
    program = assemble("mov eax, 1\nhlt")
    assert (program.base, program.code) in guest_image(program)


def test_page_tables_identity_map_exactly_guest_ram_with_2mib_pages():
    regions = _regions()
    (pml4e,) = struct.unpack("<Q", regions[PML4_BASE])
    (pdpte,) = struct.unpack("<Q", regions[PDPT_BASE])
    assert pml4e & ~0xFFF == PDPT_BASE and pml4e & 1
    assert pdpte & ~0xFFF == PD_BASE and pdpte & 1
    pdes = struct.unpack(f"<{len(regions[PD_BASE]) // 8}Q", regions[PD_BASE])
    assert [pde & ~0x1FFFFF for pde in pdes] == list(range(0, GUEST_MEM_SIZE, 0x200000))
    assert all(pde & 0x83 == 0x83 for pde in pdes)  # present, writable, 2 MiB page


def test_idt_has_only_the_gp_gate():
    idt = _regions()[IDT_BASE]
    assert len(idt) == IDT_ENTRIES * 16
    present = [v for v in range(IDT_ENTRIES) if idt[16 * v + 5] & 0x80]
    assert present == [13]
    low, selector, _, attributes, middle, high, _ = struct.unpack("<HHBBHII", idt[208:224])
    assert (low | middle << 16 | high << 32, selector, attributes) == (GP_HANDLER_BASE, 8, 0x8E)


def test_gdt_has_flat_64bit_code_and_data():
    assert _regions()[GDT_BASE] == GDT
    null, code, data = struct.unpack("<QQQ", GDT[:24])
    assert null == 0
    assert code >> 53 & 1 and code >> 47 & 1 and code >> 43 & 1  # L, P, executable
    assert data >> 47 & 1 and not data >> 43 & 1 and data >> 41 & 1  # P, data, writable


def test_handler_sits_at_its_base():
    assert _regions()[GP_HANDLER_BASE] == GP_HANDLER_CODE
