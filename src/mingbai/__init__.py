"""Mingbai (明白): subscribers pay only for what they knowingly ordered."""

__version__ = "0.1.0"
