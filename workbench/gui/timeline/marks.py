"""What a timeline mark means: each row's category (its colour and its severity).

A pixel column of a lane often holds many events; it shows the most severe one, so a #GP
among a million answered exits is never hidden. Severity is the category's place in
CATEGORIES (later = more severe). A mark's *code* packs both: severity in the high 16
bits, an index into the panel's colour table in the low 16, so one numpy `maximum` picks
the most severe event of a bucket together with its colour.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from workbench.gui import palette
from workbench.session.eventlog import EventKind, MsrExitReason

SEVERITY_SHIFT = 16
COLOUR_MASK = (1 << SEVERITY_SHIFT) - 1


@dataclass(frozen=True)
class Category:
    label: str
    colour: str
    kinds: frozenset[EventKind]


def _kinds(*kinds: EventKind) -> frozenset[EventKind]:
    return frozenset(kinds)


K = EventKind
# Least severe first. MSR exits are split by reason below (the `reason` column).
CATEGORIES: tuple[Category, ...] = (
    Category("other", "#b0b0b0", _kinds(K.STEP, K.PAUSE, K.BREAKPOINT)),
    Category("in-kernel MSR", palette.BLUE, _kinds(K.MSR_READ, K.MSR_WRITE)),
    Category("answer", palette.BLUISH_GREEN, _kinds(K.USER_ANSWER)),
    Category("IO", palette.SKY_BLUE, _kinds(K.IO_EXIT, K.IO_ANSWER)),
    Category("HLT/INTR/other exit", palette.REDDISH_PURPLE, _kinds(K.HLT, K.INTR,
                                                                     K.OTHER_EXIT)),
    Category("filter/cap ioctl", "#5a5a5a", _kinds(K.FILTER_SET, K.CAP_SET)),
    Category("vfio device", "#999933", _kinds(
        K.VFIO_DEVICE_ADD, K.VFIO_DEVICE_REMOVE, K.VFIO_FLAG_CHANGE, K.VFIO_SRIOV_CONTROL,
        K.VFIO_OPEN, K.VFIO_ACTION)),
    Category("vfio config", "#44aa99", _kinds(K.VFIO_CONFIG_READ, K.VFIO_CONFIG_WRITE,
                                              K.VFIO_PHYS_CONFIG_WRITE)),
    Category("vfio BAR", "#117733", _kinds(K.VFIO_REGION_READ, K.VFIO_REGION_WRITE,
                                           K.VFIO_BAR_RESTORE)),
    Category("vfio mmap/zap", "#882255", _kinds(K.VFIO_MMAP_ZAP, K.VFIO_MMAP_REMAP,
                                                K.VFIO_MMAP_FAULT)),
    Category("MSR exit INVAL", "#f0c060", frozenset()),
    Category("MSR exit UNKNOWN", palette.ORANGE, _kinds(K.MSR_EXIT)),
    Category("MSR exit FILTER", "#a06000", frozenset()),
    Category("blocked MMIO", "#cc3311", _kinds(K.VFIO_REGION_BLOCKED)),
    Category("#GP", palette.VERMILLION, _kinds(K.MSR_GP)),
    Category("shutdown", "#000000", _kinds(K.SHUTDOWN)),
)
_INDEX = {c.label: i for i, c in enumerate(CATEGORIES)}
_BY_KIND = np.zeros(256, np.uint8)
for _i, _category in enumerate(CATEGORIES):
    _BY_KIND[[int(k) for k in _category.kinds]] = _i
_MSR_EXIT = int(K.MSR_EXIT)
_EXIT_INVAL, _EXIT_FILTER = _INDEX["MSR exit INVAL"], _INDEX["MSR exit FILTER"]
_INVAL, _FILTER = int(MsrExitReason.INVAL), int(MsrExitReason.FILTER)

# fn(rows, first): colours for a block of the log's structured rows, the first of which is
# log row `first` (a colouring rule may test the row number).
ColourFunction = Callable[[np.ndarray, int], "np.ndarray | Sequence[str]"]


def categories(rows: np.ndarray) -> np.ndarray:
    """Each row's index into CATEGORIES (uint8): its kind, and for an MSR exit its reason
    (a FILTER exit is a denied MSR, the most telling of the three)."""
    out = _BY_KIND[rows["kind"]]
    exits = rows["kind"] == _MSR_EXIT
    if exits.any():
        reason = rows["reason"]
        out = out.copy()
        out[exits & (reason & _INVAL != 0)] = _EXIT_INVAL
        out[exits & (reason & _FILTER != 0)] = _EXIT_FILTER
    return out


_DEFAULT_RGB = np.array([[int(c.colour[i:i + 2], 16) for i in (1, 3, 5)] for c in CATEGORIES],
                        np.uint8)


def by_kind(rows: np.ndarray, first: int = 0) -> np.ndarray:
    """The default colour function: the category's colour, as (n, 3) uint8 RGB."""
    return _DEFAULT_RGB[categories(rows)]


def packed_rgb(colours: np.ndarray | Sequence[str], count: int) -> np.ndarray:
    """A colour function's answer as one uint32 0xRRGGBB per row. It may give (n, 3) or
    (n, 4) integer RGB(A) or a sequence of '#rrggbb' strings; anything else is a
    ValueError naming what was wrong."""
    if isinstance(colours, np.ndarray) and colours.ndim == 2 and colours.shape[1] in (3, 4):
        rgb = colours[:, :3].astype(np.uint32)
    else:
        names = list(colours)
        try:
            unique = {n: int(n.lstrip("#"), 16) for n in set(names)}
        except (AttributeError, ValueError) as exc:
            raise ValueError(f"colour function: colours must be '#rrggbb' ({exc})") from None
        values = np.array([unique[n] for n in names], np.uint32)
        rgb = np.stack([(values >> 16) & 255, (values >> 8) & 255, values & 255], axis=1)
    if len(rgb) != count:
        raise ValueError(f"colour function: {len(rgb)} colours for {count} rows")
    return (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]


class ColourTable:
    """The colours marks use, interned: a mark's code holds its colour's index here."""

    def __init__(self) -> None:
        self._index: dict[int, int] = {}
        self.rgb: list[int] = []

    def codes(self, rows: np.ndarray, first: int, colour: ColourFunction) -> np.ndarray:
        """Each row's code: severity << 16 | colour index (uint32)."""
        category = categories(rows).astype(np.uint32)
        if colour is by_kind:   # the default needs no per-row colours: one per category
            index = np.array([self._intern(int(c.colour[1:], 16)) for c in CATEGORIES],
                             np.uint32)
            return (category << SEVERITY_SHIFT) | index[category]
        packed = packed_rgb(colour(rows, first), len(rows))
        unique, inverse = np.unique(packed, return_inverse=True)
        index = np.array([self._intern(int(u)) for u in unique], np.uint32)
        return (category << SEVERITY_SHIFT) | index[inverse.reshape(-1)]

    def _intern(self, rgb: int) -> int:
        at = self._index.get(rgb)
        if at is None:
            if len(self.rgb) >= 1 << 16:
                raise ValueError("colour function: more than 65536 distinct colours")
            at = self._index[rgb] = len(self.rgb)
            self.rgb.append(rgb)
        return at

    def argb(self) -> np.ndarray:
        """The table as opaque 0xAARRGGBB (uint32), the lane image's pixels."""
        return np.array(self.rgb or [0], np.uint32) | np.uint32(0xFF000000)


