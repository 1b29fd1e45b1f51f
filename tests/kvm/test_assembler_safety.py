"""Guest source cannot reach the machine that assembles it: no directive that names a file,
no way to spell one, and bounded output; `as`'s fatal errors name their line."""

import pytest

from workbench.kvm.guest import assemble
from workbench.kvm.guest.assembler import AssemblyError

MARKER = "WORKBENCH-SECRET-MARKER"


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "secret"
    path.write_text(f"{MARKER}\n")
    return path


@pytest.mark.parametrize(("source", "line", "directive"), [
    ('nop\n.incbin "{s}"\nhlt', 2, ".incbin"),
    ('.INCBIN "{s}"', 1, ".incbin"),
    ('start: next: .IncBin "{s}"', 1, ".incbin"),
    ('.Lx: .incbin "{s}"', 1, ".incbin"),
    ('nop; .include "{s}"', 1, ".include"),
    ('nop\n.include "/dev/stdin"', 2, ".include"),
    ("mov al, '\"'; .incbin \"{s}\"", 1, ".incbin"),
    ('nop /* a comment\n */ .incbin "{s}"', 2, ".incbin"),
    ('.irp d,incbin\n.\\d "{s}"\n.endr', 1, ".irp"),
    ('.macro m d\n.\\d "{s}"\n.endm\nm incbin', 1, ".macro"),
    ('nop\n.altmacro', 2, ".altmacro"),
    ('.mri 1\nINCLUDE "{s}"', 1, ".mri"),
])
def test_source_that_names_a_file_is_refused_before_as_runs(secret, source, line, directive):
    with pytest.raises(AssemblyError) as caught:
        assemble(source.format(s=secret))
    assert caught.value.line == line
    assert f"`{directive}`" in str(caught.value) and MARKER not in str(caught.value)


def test_directives_outside_the_allow_list_are_refused_with_their_line():
    with pytest.raises(AssemblyError, match=r"^line 3: `\.print` is not a directive"):
        assemble('nop\nnop\n.print "hi"\nhlt')


def test_ordinary_directives_and_local_labels_still_assemble():
    program = assemble(".equ COUNT, 3\nmov ecx, COUNT\n.Lloop: dec ecx\njnz .Lloop\n"
                       ".rept 2\nnop\n.endr\n.align 4\n.byte 0xf4")
    assert [i.text for i in program.listing][-4:] == ["nop", "nop", "nop", "hlt"]


def test_output_is_bounded_before_it_reaches_the_disk():
    with pytest.raises(AssemblyError, match=r"output exceeds \d+ MiB"):
        assemble(".fill 0x4000000, 1, 0x90\nhlt")     # 64 MiB


def test_a_fatal_error_names_its_line_in_the_users_text():
    depth = 200
    source = ".rept 2\n" * depth + "nop\n" + ".endr\n" * depth
    with pytest.raises(AssemblyError, match="nested too deeply") as caught:
        assemble(source)
    assert 1 <= caught.value.line <= source.count("\n")
    assert "Assembler messages" not in str(caught.value)
