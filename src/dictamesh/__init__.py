"""DictaMesh: a data mesh framework for Python."""

__version__ = "0.1.0"
