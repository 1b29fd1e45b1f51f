"""One spelling of numbers everywhere: what a scenario file reads, the filter API reads,
the [pci] table reads and the log's filter box reads are the same numbers."""

import pytest

from workbench.kvm.filter import MsrFilterRange
from workbench.session.eventlog.query import FilterError, parse_filter
from workbench.session.scenario import ScenarioError, loads
from workbench.values import as_int, parse_int
from workbench.vfio.story import load_pci_scenario

SPELLINGS = [("0x35", 0x35), ("0X3_5", 0x35), ("53", 53), ("053", 53), ("5_3", 53),
             (" 0x35 ", 0x35)]
NOT_NUMBERS = ["", "0x", "0o65", "0b1", "1__0", "_1", "1_", "x35", "3.5", "0x35h", "++1"]


def _readers(text):
    """The number `text` stands for in each place a user may type one."""
    scenario = loads(f'version = 1\n[[handlers]]\nmsr = "{text}"\nvalue = 1\n')
    pci = load_pci_scenario({"devices": [{"kind": "pf", "name": "pf", "total_vfs": text}]})
    query = parse_filter(f"msr={text.strip()}")["msr"]
    return {
        "scenario": next(iter(scenario.handlers)),
        "filter": MsrFilterRange.from_dict({"flags": 1, "base": text, "nmsrs": 0}).base,
        "pci": pci.devices[0].total_vfs,
        "query": query[0],
    }


@pytest.mark.parametrize(("text", "value"), SPELLINGS)
def test_every_reader_takes_the_same_spellings(text, value):
    assert parse_int(text) == value
    assert set(_readers(text).values()) == {value}


@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_every_reader_refuses_the_same_text_naming_the_field(text):
    with pytest.raises(ValueError, match="is not a number"):
        parse_int(text)
    with pytest.raises(ScenarioError, match=r"\$\.handlers\[0\]\.msr"):
        loads(f'version = 1\n[[handlers]]\nmsr = "{text}"\nvalue = 1\n')
    with pytest.raises(ValueError, match=r"range\.base"):
        MsrFilterRange.from_dict({"flags": 1, "base": text, "nmsrs": 0})
    if text.strip():
        with pytest.raises(FilterError):
            parse_filter(f"msr={text}")


def test_as_int_refuses_booleans_and_other_types_by_field():
    assert as_int(7, "f") == 7 and as_int("-0x1", "f") == -1
    with pytest.raises(ValueError, match="f: expected an integer, got a boolean"):
        as_int(True, "f")
    with pytest.raises(ValueError, match="f: expected an integer, got float"):
        as_int(1.5, "f")
