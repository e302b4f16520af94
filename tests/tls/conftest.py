"""Fixtures of the TLS tests."""

from __future__ import annotations

from tls_harness import pki

__all__ = ["pki"]
