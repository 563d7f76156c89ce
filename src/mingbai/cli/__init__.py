"""The ``mingbai`` command line (Typer + Rich)."""
