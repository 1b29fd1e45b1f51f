"""Recordings that an interrupted `workbench record` left half written.

`workbench record -o OUT` journals into a hidden `.OUT.PID.partial.jsonl` beside OUT and
renames it over OUT only when the run finishes, so an old recording is never half
overwritten. A run that dies (kill -9, a crash, a power cut) leaves the hidden file behind,
unlocked since its writer is gone. Its commands are a valid recording prefix, so instead of
deleting someone's work, the next `workbench record`, `replay` or `open` of OUT makes it
visible as `STEM.interrupted-PID.SUFFIX` beside it (replayable, with "no end record") and says
so; one that holds nothing is removed. A partial whose writer still runs is left alone.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
from pathlib import Path

from workbench.atomic import in_use
from workbench.session.journal import SUFFIX

_PARTIAL_SUFFIX = ".partial" + SUFFIX
_PARTIAL = re.compile(r"\.(?P<pid>\d+)" + re.escape(_PARTIAL_SUFFIX) + "$")


def partial_path(output: Path, pid: int | None = None) -> Path:
    """Where `workbench record` (process `pid`, default this one) journals `output`."""
    return output.with_name(f".{output.name}.{os.getpid() if pid is None else pid}"
                            f"{_PARTIAL_SUFFIX}")


def keep(partial: Path, output: Path) -> Path | None:
    """Rename `partial` to a visible, unused name beside `output` and return that name;
    None (and the partial removed) when it holds nothing; `partial` itself if it cannot be
    renamed."""
    match = _PARTIAL.search(partial.name)
    pid = match.group("pid") if match else "0"
    try:
        if partial.stat().st_size == 0:
            partial.unlink()
            return None
        for n in range(1, 100):
            extra = "" if n == 1 else f"-{n}"
            target = output.with_name(f"{output.stem}.interrupted-{pid}{extra}{output.suffix}")
            with contextlib.suppress(FileExistsError):
                os.link(partial, target)     # never replaces an existing file
                partial.unlink()
                return target
    except OSError:
        pass
    return partial


def recover_partials(output: Path) -> list[str]:
    """Recover the partials that interrupted runs of `workbench record -o output` left;
    one note per partial for the user."""
    notes = []
    pattern = f".{glob.escape(output.name)}.*{_PARTIAL_SUFFIX}"
    for partial in sorted(output.parent.glob(pattern)):
        if not _PARTIAL.search(partial.name) or in_use(partial):
            continue
        kept = keep(partial, output)
        if kept is None:
            notes.append(f"removed {partial}, an empty recording an interrupted run left")
        else:
            notes.append(f"an interrupted `workbench record` of {output} left its commands "
                         f"in {kept}")
    return notes
