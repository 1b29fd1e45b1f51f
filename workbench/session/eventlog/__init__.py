"""The session's event log: KVM, session and vfio events in columnar numpy storage.

`EventLog` stores and filters rows (its parts: columns, storage, counters, formatting,
observers, digest), `EventKind`/`Flag`/`MsrExitReason` say what a row's numbers mean,
`LoggedRow` is a row decoded by name, and `parse_filter` reads the GUI filter box into
`EventLog.mask` keywords.
"""

from workbench.session.eventlog.columns import CHUNK_ROWS, COLUMNS, FIELDS, ROW_DTYPE
from workbench.session.eventlog.formatting import LoggedRow
from workbench.session.eventlog.kinds import EventKind, Flag, MsrExitReason
from workbench.session.eventlog.log import EventLog
from workbench.session.eventlog.query import FilterError, parse_filter

__all__ = [
    "CHUNK_ROWS",
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
