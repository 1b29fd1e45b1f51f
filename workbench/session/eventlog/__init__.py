"""The session's event log: KVM, session and vfio events in columnar numpy storage.

`EventLog` stores and filters rows (its parts: columns, storage, counters, formatting,
observers, digest), `EventKind`/`Flag`/`MsrExitReason` say what a row's numbers mean,
`LoggedRow` is a row decoded by name, and `parse_filter` reads the old key=value filter
syntax into `EventLog.mask` keywords. The display-filter language (and/or/not,
comparisons, MSR names) is `compile_filter` (display_filter.py), which returns a
`DisplayFilter` or a `FilterSyntaxError` value; stats.py, colouring.py and export.py are
the views built on it.
"""

from workbench.session.eventlog.columns import CHUNK_ROWS, COLUMNS, FIELDS, ROW_DTYPE
from workbench.session.eventlog.display_filter import DisplayFilter, compile_filter
from workbench.session.eventlog.filter_lang import FilterSyntaxError
from workbench.session.eventlog.formatting import LoggedRow
from workbench.session.eventlog.kinds import EventKind, Flag, MsrExitReason
from workbench.session.eventlog.log import EventLog
from workbench.session.eventlog.query import FilterError, parse_filter

__all__ = [
    "CHUNK_ROWS",
    "DisplayFilter",
    "FilterSyntaxError",
    "compile_filter",
    "COLUMNS",
    "FIELDS",
    "ROW_DTYPE",
    "EventKind",
    "EventLog",
    "FilterError",
    "Flag",
    "LoggedRow",
    "MsrExitReason",
    "parse_filter",
]
