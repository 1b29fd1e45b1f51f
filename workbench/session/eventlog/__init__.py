"""The session's event log: KVM, session and vfio events in columnar numpy storage.

`EventLog` stores and filters rows, `EventKind`/`Flag`/`MsrExitReason` say what a row's
numbers mean, and `parse_filter` reads the GUI filter box into `EventLog.mask` keywords.
"""

from workbench.session.eventlog.kinds import EventKind, Flag, MsrExitReason
from workbench.session.eventlog.log import CHUNK_ROWS, COLUMNS, FIELDS, ROW_DTYPE, EventLog
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
    "MsrExitReason",
    "parse_filter",
]
