"""The recording tests' guest (a loop of MSR and port exits), and reading and writing
recordings line by line."""

from pathlib import Path

from workbench.session.recording import Recorder
from workbench.session.recording.records import encode_line
from workbench.session.scenario import loads
from workbench.session.session import Session

SCENARIOS = sorted((Path(__file__).parents[2] / "resources" / "scenarios").glob("*.toml"))

LOOP = """
loop:
    mov ecx, 0x35
    rdmsr
    mov ecx, 0xc0010015
    rdmsr
    mov ecx, 0x10
    rdmsr
    mov ecx, 0x3a
    xor eax, eax
    xor edx, edx
    wrmsr
    in al, 0x60
    out 0x80, al
    inc r13
    jmp loop
"""

LOOP_SCENARIO = f"""
version = 1
name = "loop"
[caps]
user_space_msr = ["INVAL", "UNKNOWN", "FILTER"]
[[vcpus]]
source = '''{LOOP}'''
[[handlers]]
msr = "0x35"
value = "0x40008"
"""

PARSED = loads(LOOP_SCENARIO)
ADDRESSES = [insn.address for insn in PARSED.programs[0].listing]
MSRS = [0x10, 0x35, 0x3A, 0xC0010015]


def record_session(path, commands, checkpoint_every=1000):
    """Apply `commands` to a fresh loop session while recording; the session (open)."""
    session = Session(PARSED, checkpoint_every=checkpoint_every)
    recorder = Recorder.start(session, path)
    for command in commands:
        session.apply(command)
    recorder.close()
    return session


def lines_of(path):
    return Path(path).read_text().splitlines()


def line_of(record):
    """A record (read back as a dict and edited) as a line with a checksum that matches."""
    return encode_line(record).decode().rstrip("\n")


def write_lines(path, lines):
    Path(path).write_text("".join(line + "\n" for line in lines))
