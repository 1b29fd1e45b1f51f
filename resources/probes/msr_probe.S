/* Boot-sector MSR probe for `workbench capture` (see README "Debug your own VMM").
 * SeaBIOS loads it at 0:0x7c00 in real mode. It makes one access of each kind a capture
 * shows: a read QEMU's own MSR filter sends to user space (0x35, exit reason FILTER), reads
 * and a write KVM handles in the kernel, and a read of an MSR nobody implements (#GP,
 * skipped by the handler below). `out`s to isa-debugcon (0x402) mark the steps; the
 * last `out` to isa-debug-exit (0xf4) makes QEMU exit. LOOPS > 0 (`--defsym LOOPS=N`)
 * adds N `out`s to port 0x80 before the exit, for the capture benchmark. */
        .code16
        .globl _start
        .ifndef LOOPS
        .set LOOPS, 0
        .endif
_start:
        cli
        xorw %ax, %ax
        movw %ax, %ds
        movw %ax, %ss
        movw $0x7c00, %sp
        movw $gp_handler, 13*4          /* #GP (vector 13) -> gp_handler */
        movw %ax, 13*4+2

        movw $0x402, %dx
        movb $'P', %al
        outb %al, %dx
        movl $0x35, %ecx                /* MSR_CORE_THREAD_COUNT: QEMU's filter denies it */
        rdmsr
        movl $0x1b, %ecx                /* IA32_APIC_BASE: in the kernel */
        rdmsr
        movl $0x174, %ecx               /* IA32_SYSENTER_CS: written and read back in kernel */
        xorl %edx, %edx
        movl $0x10, %eax
        wrmsr
        rdmsr
        movl $0x0badc0de, %ecx          /* no such MSR: #GP */
        rdmsr
        movw $0x402, %dx
        movb $'K', %al
        outb %al, %dx

        movl $LOOPS, %ecx
        jecxz done
spin:
        outb %al, $0x80
        loopl spin
done:
        movw $0x402, %dx
        movb $'\n', %al
        outb %al, %dx
        movb $0x10, %al                 /* QEMU exits with status (0x10 << 1) | 1 = 33 */
        outb %al, $0xf4
halt:
        hlt
        jmp halt

/* Real mode #GP pushes FLAGS, CS, IP and no error code: skip the 2-byte rdmsr/wrmsr. */
gp_handler:
        pushw %bp
        movw %sp, %bp
        addw $2, 2(%bp)
        popw %bp
        iret

        .org 510
        .byte 0x55, 0xaa
