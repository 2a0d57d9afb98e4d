"""Core vocabulary: models, errors, settings and request context.

The lowest layer: every other package may import it, it imports none of them.

Example::

    from dictamesh.core import DictaMeshSettings, Entity, EntityRef, EntityNotFound

    settings = DictaMeshSettings.from_yaml("mesh.yaml")   # environment still overrides
"""

from dictamesh.core.context import current_principal, current_tenant, tenant_id
from dictamesh.core.errors import (
    ConfigurationError,
    DictaMeshError,
    EntityNotFound,
    MissingDependencyError,
    NotFoundError,
    PermissionDenied,
    SourceError,
    ValidationError,
)
from dictamesh.core.lifecycle import AsyncResource
from dictamesh.core.models import (
    ChangeEvent,
    Entity,
    EntityRef,
    EntitySchema,
    EventType,
    FieldSpec,
    FieldType,
    Query,
)
from dictamesh.core.principal import Principal
from dictamesh.core.settings import DictaMeshSettings

__all__ = [
    "AsyncResource",
    "ChangeEvent",
    "ConfigurationError",
    "DictaMeshError",
    "DictaMeshSettings",
    "Entity",
    "EntityNotFound",
    "EntityRef",
    "EntitySchema",
    "EventType",
    "FieldSpec",
    "FieldType",
    "MissingDependencyError",
    "NotFoundError",
    "PermissionDenied",
    "Principal",
    "Query",
    "SourceError",
    "ValidationError",
    "current_principal",
    "current_tenant",
    "tenant_id",
]
