"""Strawberry's extension runner, with each extension class's hooks wrapped once.

Strawberry creates the extensions per request (right: they hold request state) and, for
each of the four phases, inspects every extension's hook and wraps it in a fresh
``contextlib.contextmanager`` (``functools.update_wrapper`` included) — about thirty
inspections and wrappers per request for the node's seven extensions, a visible share of
the CPU of a small query. The hook *kind* and wrapper depend only on the extension's class,
so this runner keeps them per class; per request it only binds them to the instance.
Hooks that are plain functions (not generators) take Strawberry's own path.

An extension may also say, when a phase begins, that its hook has nothing to do for this
request: ``hook_needed(hook_name) -> bool`` (e.g. tracing switched off, a document too
small to parse in a thread). Such a hook is not entered at all — no context manager, no
generator — which is what a hook that only yields would cost.

Used by :class:`~dictamesh.gateway.schema_builder.GatewaySchema`.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable
from functools import partial
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.extensions.context import (
    ExecutingContextManager,
    ExtensionContextManagerBase,
    OperationContextManager,
    ParsingContextManager,
    ValidationContextManager,
    WrappedHook,
)
from strawberry.extensions.runner import SchemaExtensionsRunner

__all__ = ["CachedHooksRunner"]

_Wrapper = Callable[[SchemaExtension], Any]
_UNHANDLED = "unhandled"


_Found = tuple[_Wrapper, bool, bool] | str | None
# (extension class, hook name) -> wrapper; extension classes are few and live as long
_WRAPPERS: dict[tuple[type[SchemaExtension], str], _Found] = {}


def _wrapper(cls: type[SchemaExtension], hook_name: str) -> _Found:
    key = (cls, hook_name)
    try:
        return _WRAPPERS[key]
    except KeyError:
        found = _WRAPPERS[key] = _inspect(cls, hook_name)
        return found


def _inspect(cls: type[SchemaExtension], hook_name: str) -> _Found:
    """``(wrapper, is_async, asks)`` of ``cls``'s hook (``asks``: it has ``hook_needed``);
    None: no hook; ``_UNHANDLED``: not a generator (left to Strawberry)."""
    hook = getattr(cls, hook_name)
    if hook is getattr(SchemaExtension, hook_name):
        return None
    asks = callable(getattr(cls, "hook_needed", None))
    if inspect.isgeneratorfunction(hook):
        return contextlib.contextmanager(hook), False, asks
    if inspect.isasyncgenfunction(hook):
        return contextlib.asynccontextmanager(hook), True, asks
    return _UNHANDLED


class _CachedHooks(ExtensionContextManagerBase):
    __slots__ = ()

    def get_hook(self, extension: SchemaExtension) -> WrappedHook | None:
        found = _wrapper(type(extension), self.HOOK_NAME)
        if found is None:
            return None
        if isinstance(found, str):
            return super().get_hook(extension)
        wrapper, is_async, asks = found
        if asks and not extension.hook_needed(self.HOOK_NAME):  # type: ignore[attr-defined]
            return None
        return WrappedHook(extension=extension, hook=partial(wrapper, extension), is_async=is_async)


class _Operation(_CachedHooks, OperationContextManager):
    __slots__ = ()


class _Validation(_CachedHooks, ValidationContextManager):
    __slots__ = ()


class _Parsing(_CachedHooks, ParsingContextManager):
    __slots__ = ()


class _Executing(_CachedHooks, ExecutingContextManager):
    __slots__ = ()


class CachedHooksRunner(SchemaExtensionsRunner):
    """:class:`SchemaExtensionsRunner` with the hooks of each extension class wrapped once
    (streamed results keep Strawberry's own manager)."""

    def operation(self) -> OperationContextManager:
        return _Operation(self.extensions)

    def validation(self) -> ValidationContextManager:
        return _Validation(self.extensions)

    def parsing(self) -> ParsingContextManager:
        return _Parsing(self.extensions)

    def executing(self) -> ExecutingContextManager:
        return _Executing(self.extensions)
