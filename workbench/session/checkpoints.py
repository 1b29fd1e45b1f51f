"""Checkpoints for seeking: full machine state every N steps, guest RAM as dirty pages.

Guest RAM is 4 MiB per vCPU; storing it whole at every checkpoint would cost gigabytes
over a long session, so a checkpoint keeps only the pages that changed since the previous
one, with a full keyframe every KEYFRAME_EVERY checkpoints to bound the pages to replay.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from workbench.kvm.sim_state import VmState

PAGE = 4096
KEYFRAME_EVERY = 64


@dataclass
class Checkpoint:
    step: int
    vm: VmState
    pci: Any                      # a PciStory clone, or None
    handlers: tuple[dict, dict]   # (rules, registers)
    views: list[tuple]            # per vCPU: (pending, answered, halted, last exit_reason)


@dataclass
class _Stored:
    checkpoint: Checkpoint        # with every vCPU's memory emptied
    keyframe: list[bytes] | None  # full RAM per vCPU, or None
    pages: list[dict[int, bytes]]  # pages changed since the previous checkpoint, per vCPU


class CheckpointStore:
    def __init__(self) -> None:
        self._stored: list[_Stored] = []
        self._steps: list[int] = []
        self._last_memory: list[np.ndarray] = []

    def __len__(self) -> int:
        return len(self._stored)

    def has(self, step: int) -> bool:
        i = bisect.bisect_left(self._steps, step)
        return i < len(self._steps) and self._steps[i] == step

    def add(self, checkpoint: Checkpoint) -> None:
        if self._steps and checkpoint.step <= self._steps[-1]:
            raise ValueError(f"checkpoint at step {checkpoint.step} is not after "
                             f"step {self._steps[-1]}")
        memories = [np.frombuffer(v.memory, dtype=np.uint8) for v in checkpoint.vm.vcpus]
        keyframe = len(self._stored) % KEYFRAME_EVERY == 0 or len(self._last_memory) != len(
            memories)
        pages: list[dict[int, bytes]] = []
        if not keyframe:
            for now, before in zip(memories, self._last_memory, strict=True):
                changed = np.nonzero((now != before).reshape(-1, PAGE).any(axis=1))[0]
                pages.append({int(p): now[p * PAGE:(p + 1) * PAGE].tobytes() for p in changed})
        emptied = replace(checkpoint, vm=replace(
            checkpoint.vm, vcpus=tuple(replace(v, memory=b"") for v in checkpoint.vm.vcpus)))
        self._stored.append(_Stored(emptied, [v.memory for v in checkpoint.vm.vcpus]
                                    if keyframe else None, pages))
        self._steps.append(checkpoint.step)
        self._last_memory = memories

    def at_or_before(self, step: int) -> Checkpoint:
        """The latest checkpoint at or before `step`, with guest RAM rebuilt."""
        i = bisect.bisect_right(self._steps, step) - 1
        if i < 0:
            raise ValueError(f"no checkpoint at or before step {step}")
        k = i
        while self._stored[k].keyframe is None:
            k -= 1
        memories = [bytearray(m) for m in self._stored[k].keyframe]
        for stored in self._stored[k + 1:i + 1]:
            for memory, pages in zip(memories, stored.pages, strict=True):
                for page, data in pages.items():
                    memory[page * PAGE:(page + 1) * PAGE] = data
        checkpoint = self._stored[i].checkpoint
        vcpus = tuple(replace(v, memory=bytes(m))
                      for v, m in zip(checkpoint.vm.vcpus, memories, strict=True))
        return replace(checkpoint, vm=replace(checkpoint.vm, vcpus=vcpus))

    def drop_after(self, step: int) -> None:
        """Forget checkpoints past `step` (the user changed history there)."""
        keep = bisect.bisect_right(self._steps, step)
        if keep == len(self._steps):
            return
        del self._stored[keep:]
        del self._steps[keep:]
        last = self.at_or_before(self._steps[-1]) if self._steps else None
        self._last_memory = [] if last is None else [
            np.frombuffer(v.memory, dtype=np.uint8) for v in last.vm.vcpus]
