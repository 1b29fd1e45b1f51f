"""Scenario texts several test packages share."""

# A guest that never exits: only a pause (KVM_EXIT_INTR) or a deadline ends its run.
SPIN = '''
version = 1
name = "a guest without exits"
[[vcpus]]
source = """
spin:
    inc rbx
    jmp spin
"""
'''
