"""Redis first, memory while it is down, and nothing lost in between: a store composed over two stores.

backend.py     ResilientBackend: each operation on the primary under a timeout, or on the fallback
breaker.py     when calls go to the primary, and when to probe it again
near_cache.py  the sessions used last, for the fallback to take over
outage.py      what the fallback took over during an outage, and its journal
journal.py     the journal's entries: idempotent, coalesced per session
recovery.py    the write-back and the replay that end an outage
"""

from sessionhub.backends.resilient.backend import ResilientBackend

__all__ = ["ResilientBackend"]
