"""live: desired state against connected clusters — server-side dry runs, drift, status.

`connect` is the only way in: one connection per cluster, unreachable clusters as error findings.
"""

from vfleet.live.connect import ApiError, Connection, Connections, Unreachable, connect, connect_one

__all__ = ["ApiError", "Connection", "Connections", "Unreachable", "connect", "connect_one"]
