"""The bulk kvm_msr reader (msr_lines) against the line-by-line one it stands in for.

Both must give the same accesses, threads and skipped lines (with the same line numbers) on
any text: canonical lines, near-canonical ones, other events, headers and garbage, mixed.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.capture import msr_lines, tracecmd, tracefs
from workbench.capture.kernel_events import KernelEvents

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_LINES = [line for name in ("probe.tracefs.txt", "probe.trace-cmd.txt")
                 for line in (FIXTURES / name).read_text().splitlines()]
HEADERS = [tracefs.HEADER, tracecmd.HEADER]
_NAME_CHARS = "ab -_/:[]()#0123456789\t\u00e9\u3000"


def _mostly(canonical: str, *others: str) -> st.SearchStrategy[str]:
    """`canonical` half the time, else one of the variants the readers must agree on."""
    return st.one_of(st.just(canonical), st.sampled_from([canonical, *others]))


@st.composite
def msr_lines_(draw: st.DrawFn) -> str:
    """A kvm_msr line as the kernel prints it, or nearly: at most a few fields off."""
    lead = draw(_mostly(" ", "", "inst: ", "#", "cpus=1 ", "version = 2 ", "CPU 1 is empty"))
    comm = draw(st.one_of(st.just("qemu-system-x86"), st.text(_NAME_CHARS, max_size=12)))
    tgid = draw(_mostly("", "(  4242) ", "(-------) "))
    flags = draw(_mostly(".....  ", "", "d..1. ", "a:b ", "x]y ", "a\tb "))
    stamp = draw(_mostly("100.000001", "3.5", "7", "1e3", "nan", "\t1.5"))
    index = draw(_mostly("10", "c0000080", "0x10", "1B", "123456789", "ffffffff", "000000001"))
    value = draw(_mostly("fee00900", "0", "ffffffffffffffff", "10000000000000000"))
    gp = draw(_mostly("", " (#GP)", " (#GP) ", "  (#GP)"))
    rw = draw(_mostly("read", "write", "rxad"))
    spaces = draw(_mostly("  ", " ", ""))
    return (f"{lead}{comm}-{draw(st.integers(0, 99))}{spaces}{tgid}[00{draw(st.integers(0, 3))}]"
            f" {flags}{stamp}: kvm_msr: msr_{rw} {index} = 0x{value}{gp}")


def _mangled(line: str, data: st.DataObject) -> str:
    where = data.draw(st.integers(0, len(line)))
    return line[:where] + data.draw(st.text(max_size=2)) + line[where + 1:]


@st.composite
def traces(draw: st.DrawFn) -> str:
    canonical = msr_lines_()
    other = st.sampled_from(FIXTURE_LINES + ["", "   ", "# tracer: nop", "cpus=2",
                                             "version = 6", "CPU 1 is empty", "\x00 garbage"])
    lines = draw(st.lists(st.one_of(canonical, canonical, other, st.text(max_size=30)),
                          max_size=25))
    data = draw(st.data())
    lines = [_mangled(line, data) if data.draw(st.integers(0, 5)) == 0 else line
             for line in lines]
    return "\n".join(lines) + draw(st.sampled_from(["", "\n"]))


def _read(text: str, header, fast: bool) -> str:
    reader = KernelEvents()
    if fast:
        msr_lines.feed_bulk(reader, text, header)
    else:
        reader.feed_lines(text.splitlines(), header)
    # repr: a time the line-by-line reader takes as float("nan") compares unequal to itself
    return repr((reader.events, reader.skipped, list(reader.threads.items())))


@settings(max_examples=300, deadline=None)
@given(text=traces(), which=st.sampled_from(HEADERS))
def test_bulk_reader_reads_what_the_line_reader_reads(text: str, which) -> None:
    assert _read(text, which, fast=True) == _read(text, which, fast=False)


def test_canonical_lines_take_the_bulk_path_with_their_line_numbers() -> None:
    text = ("# tracer: nop\n qemu-4242 [001] .....  1.000001: kvm_msr: msr_write 10 = 0x5\n"
            "garbage\n CPU 0/KVM-77 [000] d..1. 2.5: kvm_msr: msr_read 35 = 0x0 (#GP)\n")
    reader = KernelEvents()
    msr_lines.feed_bulk(reader, text, tracefs.HEADER)
    assert [(a.vcpu, a.index, a.write, a.value, a.gp, a.time, a.line) for a in reader.events] == [
        (4242, 0x10, True, 5, False, 1.000001, 2), (77, 0x35, False, None, True, 2.5, 4)]
    assert [s.line for s in reader.skipped] == [3]
    assert reader.threads == {4242: "qemu", 77: "CPU 0/KVM"}
