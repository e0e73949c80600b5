"""Fixtures of the signing tests (see fixtures.py)."""

from __future__ import annotations

from .fixtures import approval_seal, stamping

__all__ = ["approval_seal", "stamping"]
