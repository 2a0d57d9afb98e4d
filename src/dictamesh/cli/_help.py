"""Help-screen fixes applied once when the CLI loads.

Typer (0.29) labels every flag with its Python type, ``--check <bool>``: a flag takes no
value, so its type column stays empty, as in ``click``'s own help.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperOption

__all__: list[str] = []

_display_type_rich = TyperOption.display_type_rich


def _flag_free_display_type(self: TyperOption, ctx: Any) -> str | None:
    if self.is_flag:
        return None
    return _display_type_rich(self, ctx)


TyperOption.display_type_rich = _flag_free_display_type  # type: ignore[method-assign]
