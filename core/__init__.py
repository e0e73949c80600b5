"""The ground floor every layer stands on: the platform, not the trust service.

Database and units of work, the audit log, API clients, holder codes, privacy masking,
DER helpers, the clock, and the root error :class:`~zhengyin.core.errors.ZhengyinError`. Nothing
here imports a layer above (``core <- keys <- trust <- signing <- registry <- api``).
"""

from __future__ import annotations

from .errors import ZhengyinError

__all__ = ["ZhengyinError"]
