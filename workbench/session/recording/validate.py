"""Checks a recorded command passes before replay applies it, beyond its msgspec type.

`Command` keeps some parts free-form (a filter as MsrFilter.to_dict() data, registers by
name, an interrupted run's exported vCPU state) and its numbers as plain ints, so a damaged
or hostile file could reach the engine with a register that does not exist, a range that
is not a table, a 70-bit MSR index or a billion exits. Each such part is converted to a
precise msgspec type here, and every number is bounded; ValueError names the field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from workbench.kvm.regs import REG_NAMES
from workbench.kvm.sim_state import inflate_memory
from workbench.session import commands as c
from workbench.session.limits import MAX_EXITS
from workbench.values import U32_MAX, U64_MAX

MAX_STATE_MEMORY = 8 << 20    # base64 text of one vCPU's zlib-compressed 4 MiB of RAM


class _RangeData(msgspec.Struct, forbid_unknown_fields=True):
    """Any int: a value the kernel refuses is an outcome to replay (EINVAL), not damage."""

    flags: int
    base: int | str
    nmsrs: int
    bitmap: str | list[Annotated[int, msgspec.Meta(ge=0, le=255)]] | None = ""


class _FilterData(msgspec.Struct, forbid_unknown_fields=True):
    flags: int = 0
    ranges: list[_RangeData] = []


class _VcpuState(msgspec.Struct, forbid_unknown_fields=True):
    regs: dict[str, int]
    memory: Annotated[str, msgspec.Meta(max_length=MAX_STATE_MEMORY)]
    msrs: dict[str, int]
    ticks: int
    intercepts: dict[str, bool]


_SetRegs = dict[Literal[REG_NAMES], int]  # type: ignore[valid-type]
_NARROW = {("set_handler", "msr"): U32_MAX, ("set_msr", "index"): U32_MAX,
           ("run", "max_exits"): MAX_EXITS}


def check_command(command: c.Command) -> None:
    """ValueError("field: message") if `command` must not reach the session."""
    data = c.to_builtins(command)
    name = data["command"]
    for field, value in data.items():
        if isinstance(value, int) and not isinstance(value, bool):
            top = _NARROW.get((name, field), U64_MAX)
            if not 0 <= value <= top:
                raise ValueError(f"$.command.{field}: {value} is not in 0..{top:#x}")
    match command:
        case c.SetFilter(filter=dict() as data):
            _convert(data, _FilterData, "$.command.filter")
        case c.SetRegs():
            _u64s(_convert(command.regs, _SetRegs, "$.command.regs"), "$.command.regs")
        case c.Run(interrupt=c.Interrupt() as interrupt) | c.RunToExit(
                interrupt=c.Interrupt() as interrupt):
            _check_interrupt(command, interrupt)


def _check_interrupt(command: c.Run | c.RunToExit, interrupt: c.Interrupt) -> None:
    most = command.max_exits if isinstance(command, c.Run) else 1
    if not 0 <= interrupt.exits < max(most, 1):
        raise ValueError(f"$.command.interrupt.exits: {interrupt.exits} is not in "
                         f"0..{max(most, 1) - 1} (the run's max_exits)")
    where = "$.command.interrupt.state"
    state = _convert(interrupt.state, _VcpuState, where)
    for name in ("regs", "msrs"):
        _u64s(getattr(state, name), f"{where}.{name}")
    _u64s({"ticks": state.ticks}, where)
    try:
        inflate_memory(state.memory)
    except ValueError as exc:
        raise ValueError(f"{where}.{exc}") from None
    for index in state.msrs:
        if not index.isdigit() or int(index) > U32_MAX:
            raise ValueError(f"$.command.interrupt.state.msrs: {index!r} is not a u32 index")


def _u64s(values: dict[str, int], where: str) -> None:
    for name, value in values.items():
        if not 0 <= value <= U64_MAX:
            raise ValueError(f"{where}.{name}: {value} is not a u64")


def _convert(data: Any, kind: Any, where: str) -> Any:
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as exc:
        message, sep, at = str(exc).rpartition(" - at ")
        path = where + at.strip("`").removeprefix("$") if sep else where
        raise ValueError(f"{path}: {message if sep else exc}") from None
