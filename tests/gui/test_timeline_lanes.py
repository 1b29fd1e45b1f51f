"""The timeline's data without Qt: lanes, level-of-detail pyramids, what a pixel shows."""

from __future__ import annotations

import numpy as np

from workbench.gui.timeline.lanes import EMPTY, LaneIndex
from workbench.gui.timeline.marks import CATEGORIES, SEVERITY_SHIFT
from workbench.gui.timeline.pyramid import Pyramid
from workbench.session.eventlog import EventKind, EventLog


def brute(steps: np.ndarray, codes: np.ndarray, k: int) -> dict[int, int]:
    out: dict[int, int] = {}
    for step, code in zip(steps.tolist(), codes.tolist(), strict=True):
        out[step >> k] = max(out.get(step >> k, 0), code)
    return out


def levels_match(pyramid: Pyramid, steps: np.ndarray, codes: np.ndarray) -> None:
    for k, level in enumerate(pyramid.levels):
        expected = brute(steps, codes, k)
        assert level.keys.view().tolist() == sorted(expected)
        assert level.codes.view().tolist() == [expected[s] for s in sorted(expected)]


def test_every_level_holds_the_maximum_of_its_buckets_after_appends_and_cuts():
    rng = np.random.default_rng(7)
    steps = np.sort(rng.integers(0, 3000, 6000))
    codes = rng.integers(0, 1 << 20, 6000).astype(np.uint32)
    pyramid = Pyramid()
    for start in range(0, len(steps), 377):     # batches that split steps
        pyramid.append(steps[start:start + 377], codes[start:start + 377])
    levels_match(pyramid, steps, codes)
    kept = steps < 1234
    pyramid.cut(1234)
    levels_match(pyramid, steps[kept], codes[kept])
    pyramid.append(steps[~kept], codes[~kept])
    levels_match(pyramid, steps, codes)


def test_every_kind_has_a_category():
    covered = {k for c in CATEGORIES for k in c.kinds}
    assert covered == set(EventKind)


def synthetic_log() -> EventLog:
    """Two vCPUs, two devices, a VM ioctl: 200,000 in-kernel reads, one #GP among them."""
    log = EventLog()
    log.add_device(0, "0000:01:00.0")
    log.add_device(3, "0000:01:00.3")
    n = 200_000
    steps = np.arange(n) // 4
    kinds = np.full(n, int(EventKind.MSR_READ))
    vcpu = np.where(np.arange(n) % 4 < 2, np.arange(n) % 2, -1)
    device = np.where(np.arange(n) % 4 == 2, 0, np.where(np.arange(n) % 4 == 3, 3, -1))
    kinds[device >= 0] = int(EventKind.VFIO_CONFIG_READ)
    kinds[123_457] = int(EventKind.MSR_GP)   # vcpu 1, step 30864
    log.extend_columns(step=steps, kind=kinds, vcpu=vcpu, device=device)
    log.append(int(EventKind.FILTER_SET), step=int(steps[-1]))
    return log


def test_lanes_are_vcpus_then_devices_then_the_vm():
    index = LaneIndex()
    index.reset(synthetic_log(), vcpu_count=2)
    index.ingest()
    assert [lane.label for lane in index.lanes()] == [
        "vcpu0", "vcpu1", "0000:01:00.0", "0000:01:00.3", "VM ioctls"]


def test_a_pixel_full_of_events_shows_the_most_severe_one():
    log = synthetic_log()
    index = LaneIndex()
    index.reset(log, vcpu_count=2)
    index.ingest()
    lanes = index.lanes()
    codes = index.render(lanes, -0.5, 50_000.5, 500)   # ~100 steps per pixel
    gp = [i for i, c in enumerate(CATEGORIES) if c.label == "#GP"][0]
    severity = np.where(codes == EMPTY, -1, codes >> SEVERITY_SHIFT)
    assert np.flatnonzero(severity[1] == gp).tolist() == [int(30864.5 / 50_001 * 500)]
    assert (severity[0] < gp).all() and (severity[0] >= 0).all()   # every column has a mark
    assert (severity[2] >= 0).all() and (severity[4] >= 0).sum() == 1   # the VM's one ioctl
    row = index.event_at(lanes[1], 30_800, 30_900, 30_850)
    assert log.row(row)["kind"] == EventKind.MSR_GP


def test_zoomed_in_each_step_is_its_own_mark():
    index = LaneIndex()
    index.reset(synthetic_log(), vcpu_count=2)
    index.ingest()
    codes = index.render(index.lanes(), 99.5, 109.5, 100)   # 10 pixels per step
    marked = np.flatnonzero(codes[0] != EMPTY)
    assert len(marked) == 10 * 8 and len(np.flatnonzero(np.diff(marked) > 1)) == 9
