"""The malformed-input corpus (issue 10): every file under tests/malformed/<kind>/ must give
the exit status and message its `.expect` sidecar names (`message` is a substring, or a list
of substrings that must all appear), with no traceback, within a hang
guard, and under a memory bound.

One child process per kind runs all of its inputs through `workbench.cli.main` in turn (a
process per input would cost a second each) under RLIMIT_AS = MEMORY_LIMIT, and reports a
JSON line per input; an input that runs longer than HANG_GUARD seconds is stopped by an
alarm and reported as a hang. The message is looked for in stderr and stdout together (a
divergence is printed on stdout).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
CORPUS = ROOT / "malformed"
MEMORY_LIMIT = 3 << 30          # bytes of address space the child may map (RLIMIT_AS)
HANG_GUARD = 10                 # seconds one input may take
COMMANDS = {"scenarios": ["run", "{}", "--headless"], "recordings": ["replay", "{}", "--verify"]}

CHILD = r"""
import contextlib, io, json, resource, signal, sys, traceback
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]),) * 2)
guard = int(sys.argv[2])
template = json.loads(sys.argv[3])
from workbench import cli

class Hang(BaseException):
    pass

def alarm(signum, frame):
    raise Hang()

signal.signal(signal.SIGALRM, alarm)
for path in sys.argv[4:]:
    out, err, status = io.StringIO(), io.StringIO(), None
    signal.alarm(guard)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = cli.main([arg.replace("{}", path) for arg in template])
    except Hang:
        status = "hang"
    except SystemExit as exc:
        status = exc.code
    except BaseException:
        status = "exception"
        err.write(traceback.format_exc())
    finally:
        signal.alarm(0)
    print(json.dumps({"path": path, "status": status, "stdout": out.getvalue()[-4000:],
                      "stderr": err.getvalue()[-4000:]}), flush=True)
"""


def inputs(kind: str) -> list[Path]:
    folder = CORPUS / kind
    return sorted(p for p in folder.iterdir() if p.suffix != ".expect") if folder.is_dir() else []


def run_kind(kind: str) -> dict[str, dict]:
    files = inputs(kind)
    env = {**os.environ, "PYTHONPATH": str(ROOT.parent), "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(MEMORY_LIMIT), str(HANG_GUARD),
         json.dumps(COMMANDS[kind]), *map(str, files)],
        capture_output=True, text=True, env=env, cwd=CORPUS,
        timeout=HANG_GUARD * (len(files) + 3))
    results = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            results[record["path"]] = record
    assert results or not files, f"the corpus child failed:\n{done.stderr[-3000:]}"
    return results


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, dict]]:
    return {kind: run_kind(kind) for kind in COMMANDS}


CASES = [pytest.param(kind, path, id=f"{kind}/{path.name}") for kind in COMMANDS
         for path in inputs(kind)]


@pytest.mark.parametrize(("kind", "path"), CASES)
def test_malformed_input_is_refused_cleanly(results, kind, path):
    expect = tomllib.loads(Path(f"{path}.expect").read_text())
    result = results[kind].get(str(path))
    assert result is not None, f"{path.name}: no result (the child died before it)"
    output = result["stderr"] + result["stdout"]
    assert result["status"] != "hang", f"{path.name}: still running after {HANG_GUARD} s"
    assert "Traceback" not in output
    assert result["status"] == expect["exit"], output
    messages = expect["message"]
    for message in [messages] if isinstance(messages, str) else messages:
        assert message in output
