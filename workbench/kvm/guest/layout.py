"""Guest physical memory layout shared by both engines.

Both the sim (Unicorn) and the host engine (/dev/kvm) load the same image at the same
addresses, so a program sees the same RSP, RIP and memory on either engine.
"""

GUEST_MEM_SIZE = 0x400000          # 4 MiB of identity-mapped RAM
PAGE_TABLE_BASE = 0x1000           # PML4 at 0x1000, PDPT at 0x2000, PD at 0x3000 (2 MiB pages)
GDT_BASE = 0x5000
IDT_BASE = 0x6000
GP_HANDLER_BASE = 0x7000           # the runtime's #GP handler (host engine executes it)
GUEST_CODE_BASE = 0x100000         # programs are loaded here
GUEST_CODE_LIMIT = 0x200000        # programs may be at most 1 MiB
GUEST_STACK_TOP = 0x300000         # RSP at start; the stack grows down from here
GUEST_DATA_BASE = 0x300000         # free RAM a program may use (up to GUEST_MEM_SIZE)
RFLAGS_RESET = 0x2                 # RFLAGS at start: only the always-one bit 1

GP_VECTOR = 13
# The #GP convention: the handler adds 1 to this register and writes the vector to the next.
GP_COUNT_REG = "r14"
GP_VECTOR_REG = "r15"


def check_ram_range(address: int, size: int) -> None:
    """ValueError unless [address, address + size) lies in guest RAM."""
    if size < 0 or address < 0 or address + size > GUEST_MEM_SIZE:
        raise ValueError(f"address: {address:#x}+{size:#x} is outside guest RAM "
                         f"(0..{GUEST_MEM_SIZE:#x})")
