"""A plugin module that fails on import (for the registry's discovery tests)."""

raise RuntimeError("this plugin is broken on purpose")
