"""The ``dictamesh`` command line (Typer): demo, node, migrations, governance tools."""

from dictamesh.cli.main import app, main

__all__ = ["app", "main"]
