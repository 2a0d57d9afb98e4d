"""DictaMesh: a data mesh framework for Python.

Kept light on purpose (a contract in ``pyproject.toml`` checks it): ``import dictamesh``
imports no subpackage; import what you use from its package (``docs/architecture.md``).
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
