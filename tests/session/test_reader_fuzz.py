"""Hypothesis fuzzing of the two file readers (issue 10): whatever a scenario or recording
file holds, the only exception that escapes is the documented one (ScenarioError,
RecordingError), and every command the recording reader lets through can be applied by a
session without an exception escaping `Session.apply`. 500 + 500 examples a run."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.session.recording import RecordingError, read_recording
from workbench.session.recording.records import encode_line
from workbench.session.scenario import ScenarioError, loads
from workbench.session.session import Session

SCENARIO = """version = 1
name = "fuzz"
[vm]
vendor = "intel"
cpuid = [[0, 0, 1, 2, 3, 4]]
[caps]
user_space_msr = ["UNKNOWN", "FILTER"]
[filter]
default = "allow"
[[filter.ranges]]
flags = "rw"
base = "0x10"
nmsrs = 8
deny = [0x11]
[[vcpus]]
code = "b9350000000f32f4ebfd"
[[handlers]]
msr = "0x35"
kind = "constant"
value = 7
[pci]
[[pci.devices]]
kind = "pf"
name = "pf"
total_vfs = 2
[[pci.actions]]
op = "config_read"
device = "pf"
offset = 0
repeat = 2
"""
SESSION = Session(loads(SCENARIO))
HEADER = encode_line({"kind": "header", "format": "workbench-recording", "version": 1,
                      "app_version": "fuzz", "engine": "sim", "profile": None,
                      "vendor": "intel", "scenario": SCENARIO, "programs": []})
FAST = settings(max_examples=500, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

numbers = st.one_of(st.integers(-2, 300), st.sampled_from([2**32 - 1, 2**32, 2**63, 2**64 - 1,
                                                           2**64, -(2**63), 10**9, 10**30]))
leaves = st.one_of(numbers, st.booleans(), st.none(), st.sampled_from(
    ["", "0x35", "rw", "deny", "rax", "xyz", "command", "ff", "\u00e9", "[", "'"]))
values = st.recursive(leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(
        ["flags", "base", "nmsrs", "bitmap", "ranges", "rax", "rip", "exits", "state",
         "memory", "regs", "msrs", "ticks", "intercepts", "op", "device", "offset"]),
        inner, max_size=3)), max_leaves=5)


def toml_value(value: object) -> str:
    if value is None:
        return '""'
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)


# --- the scenario reader ----------------------------------------------------------------------
lines = SCENARIO.splitlines()
edits = st.one_of(
    st.tuples(st.integers(0, len(lines) - 1), values),                       # a key's value
    st.tuples(st.integers(0, len(lines) - 1), st.text("[]{}=\"'#x0,\n", max_size=8)),  # raw
    st.tuples(st.integers(0, len(lines) - 1), st.integers(20, 2000).map(   # deep nesting
        lambda n: "x = " + "[" * n + "]" * n)),
)


@FAST
@given(changes=st.lists(edits, min_size=1, max_size=3))
def test_the_scenario_reader_raises_only_scenario_error(changes):
    """...and a scenario it accepts sets up: the kernel refuses nothing in it."""
    text = list(lines)
    for index, new in changes:
        key, eq, _ = text[index].partition(" = ")
        text[index] = f"{key} = {toml_value(new)}" if eq and not isinstance(new, str) else (
            new if isinstance(new, str) else text[index])
    try:
        scenario = loads("\n".join(text) + "\n")
    except ScenarioError:
        return
    Session(scenario).close()


# --- the recording reader -----------------------------------------------------------------------
ints = st.one_of(numbers, numbers, numbers, leaves)
ranges = st.fixed_dictionaries({"flags": ints, "base": st.one_of(ints, st.just("0x10")),
                                "nmsrs": ints}, optional={"bitmap": st.one_of(
                                    st.sampled_from(["ff", "00", "zz", ""]), values)})
filters = st.one_of(st.fixed_dictionaries({"flags": ints, "ranges": st.lists(
    st.one_of(ranges, values), max_size=3)}), values)
regs = st.dictionaries(st.sampled_from(["rax", "rcx", "rip", "rflags", "xyz"]), ints, max_size=3)
states = st.fixed_dictionaries({}, optional={k: values for k in (
    "regs", "memory", "msrs", "ticks", "intercepts")})
actions = st.fixed_dictionaries({"op": st.sampled_from(
    ["open", "config_read", "config_write", "enable_memory", "region_read", "mmap_write",
     "enable_vfs", "disable_vfs", "teleport"]), "device": st.sampled_from(["pf", "vf0", "x"])},
    optional={"offset": ints, "size": ints, "value": ints, "bar": ints, "pf": st.just("pf"),
              "count": ints, "repeat": ints})
FIELDS = {"vcpu": ints, "cap": ints, "max_exits": ints, "data": ints, "error": ints,
          "msr": ints, "value": ints, "index": ints, "args": st.lists(ints, max_size=5),
          "filter": st.one_of(st.none(), filters), "regs": st.one_of(regs, values),
          "interrupt": st.one_of(st.none(), st.fixed_dictionaries(
              {"exits": ints, "state": st.one_of(states, values)})),
          "kind": st.sampled_from(["constant", "register", "fail", "ask", "none", "address",
                                   "msr", "bogus"]),
          "enabled": st.one_of(st.booleans(), leaves), "action": st.one_of(actions, values)}
SHAPES = {"set_filter": ["filter"], "enable_cap": ["cap", "args"], "step": ["vcpu"],
          "run_to_exit": ["vcpu", "interrupt"], "run": ["vcpu", "max_exits", "interrupt"],
          "answer": ["vcpu", "data", "error"], "set_handler": ["msr", "kind", "value"],
          "set_regs": ["vcpu", "regs"], "set_msr": ["vcpu", "index", "value"],
          "set_breakpoint": ["vcpu", "kind", "value", "enabled"], "pci": ["action"]}
commands = st.one_of([st.fixed_dictionaries({"command": st.just(tag)},
                                            optional={f: FIELDS[f] for f in shape})
                      for tag, shape in SHAPES.items()])


def as_records(commands: list[dict]) -> list[bytes]:
    return [encode_line({"kind": "command", "step": step, "command": command,
                         "digest": "0" * 32, "rows": 0})
            for step, command in enumerate(commands, start=1)]


junk = st.one_of(
    st.builds(lambda step, note: {"kind": "bookmark", "step": step, "note": note}, ints, values),
    st.builds(lambda steps: {"kind": "end", "steps": steps}, ints),
    st.dictionaries(st.sampled_from(["kind", "step", "command", "digest"]), values, max_size=4),
).map(encode_line) | st.binary(max_size=20).map(lambda b: b + b"\n")
files = st.builds(lambda good, bad, at: [*good[:at], *bad, *good[at:]],
                  st.lists(commands, max_size=4).map(as_records),
                  st.lists(junk, max_size=1), st.integers(0, 4))


@FAST
@given(body=files)
def test_the_recording_reader_and_session_raise_only_documented_errors(tmp_path, body):
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(HEADER + b"".join(body))
    try:
        recording = read_recording(path)
    except RecordingError:
        return
    if recording.commands:
        SESSION.seek(0)
    for record in recording.commands:
        SESSION.apply(record.command)   # a command's failure is its result, never a raise
