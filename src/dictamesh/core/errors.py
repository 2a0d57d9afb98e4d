"""One error hierarchy for the whole mesh.

Every error carries a stable machine-readable ``code`` and the HTTP status an API
should answer with, so REST, GraphQL and the CLI translate errors the same way::

    DictaMeshError
    ├── ConfigurationError (ValueError)          400 / CLI exit 2
    │   └── MissingDependencyError (ImportError)
    ├── ValidationError (ValueError)             400
    │   └── QueryLimitExceeded                   400
    ├── NotFoundError (LookupError)              404
    │   ├── UnknownEntityType
    │   └── EntityNotFound
    ├── SourceError                              502
    │   ├── SourceUnavailable                    503
    │   │   └── CircuitOpenError                 503
    │   ├── SourceRateLimited                    503
    │   └── SourceResponseError                  502 (garbage / unexpected shape)
    │       └── SourceRejectedRequest            502 (a 4xx: about the request, not the source)
    ├── EventBusError                            503
    │   ├── SerializationError                   400
    │   └── SubscriberTooSlow                    503 (a live subscriber fell behind, dropped)
    ├── CacheUnavailable (ConnectionError)       503 (a cache layer, e.g. Redis, unreachable)
    ├── CatalogError                             500
    │   ├── SchemaCompatibilityError             409
    │   └── CatalogUnavailable                   503 (database unreachable / restarting)
    ├── AuthenticationError                      401 (no/invalid credentials)
    ├── PermissionDenied                         403 (authenticated, not allowed)
    ├── AuthUnavailable                          503 (cannot verify now, e.g. JWKS down)
    ├── TenantQuotaExceeded                      429 (a tenant's quota is used up for now)
    └── InternalError                            500 (our own bug; generic message only)

Example::

    try:
        await adapter.get_entity("42")
    except EntityNotFound as exc:
        return JSONResponse(exc.to_dict(), status_code=exc.http_status)
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AuthUnavailable",
    "AuthenticationError",
    "CacheUnavailable",
    "CatalogError",
    "CatalogUnavailable",
    "CircuitOpenError",
    "ConfigurationError",
    "DictaMeshError",
    "EntityNotFound",
    "EventBusError",
    "InternalError",
    "MissingDependencyError",
    "NotFoundError",
    "OperationNotSupported",
    "PermissionDenied",
    "QueryLimitExceeded",
    "SchemaCompatibilityError",
    "SerializationError",
    "SourceError",
    "SourceRateLimited",
    "SourceRejectedRequest",
    "SourceResponseError",
    "SourceUnavailable",
    "SubscriberTooSlow",
    "TenantQuotaExceeded",
    "UnknownEntityType",
    "ValidationError",
    "WriteInProgress",
    "WriteRejected",
]


class DictaMeshError(Exception):
    """Root of every error DictaMesh raises on purpose."""

    code: ClassVar[str] = "INTERNAL"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return {"error": body}


class ConfigurationError(DictaMeshError, ValueError):
    code = "CONFIGURATION_ERROR"
    http_status = 400


class MissingDependencyError(ConfigurationError, ImportError):
    """An optional backend was selected but its extra is not installed."""

    code = "MISSING_DEPENDENCY"

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package} is required for this backend: pip install 'dictamesh[{extra}]'",
            package=package,
            extra=extra,
        )


class ValidationError(DictaMeshError, ValueError):
    code = "VALIDATION_ERROR"
    http_status = 400


class QueryLimitExceeded(ValidationError):
    code = "QUERY_LIMIT_EXCEEDED"


class NotFoundError(DictaMeshError, LookupError):
    code = "NOT_FOUND"
    http_status = 404


class UnknownEntityType(NotFoundError):
    code = "UNKNOWN_ENTITY_TYPE"

    def __init__(self, entity_type: str, known: list[str] | None = None) -> None:
        super().__init__(
            f"unknown entity type {entity_type!r}",
            entity_type=entity_type,
            known_types=sorted(known or []),
        )


class EntityNotFound(NotFoundError):
    code = "ENTITY_NOT_FOUND"

    def __init__(self, entity_type: str, entity_id: str) -> None:
        super().__init__(
            f"{entity_type} {entity_id!r} not found", entity_type=entity_type, entity_id=entity_id
        )


class SourceError(DictaMeshError):
    """A source system answered wrongly or not at all."""

    code = "SOURCE_ERROR"
    http_status = 502
    retryable: ClassVar[bool] = False
    #: whether it says the source is unhealthy (circuit breakers count only those)
    counts_against_source: ClassVar[bool] = True


class SourceUnavailable(SourceError):
    code = "SOURCE_UNAVAILABLE"
    http_status = 503
    retryable = True


class CircuitOpenError(SourceUnavailable):
    code = "SOURCE_UNAVAILABLE"
    retryable = False


class SourceRateLimited(SourceError):
    code = "SOURCE_RATE_LIMITED"
    http_status = 503
    retryable = True

    def __init__(self, message: str, retry_after: float | None = None, **details: Any) -> None:
        super().__init__(message, retry_after=retry_after, **details)
        self.retry_after = retry_after


class SourceResponseError(SourceError):
    code = "SOURCE_BAD_RESPONSE"
    http_status = 502


class SourceRejectedRequest(SourceResponseError):
    """The source refused the request with a 4xx (not 408/429): the source is up and said
    something about *this* request, so no circuit breaker counts it."""

    code = "SOURCE_REJECTED_REQUEST"
    counts_against_source = False


class WriteRejected(SourceRejectedRequest):
    """The source refused a write for a business reason (stock short, card declined...).

    ``reason`` is the source's own code (``insufficient_stock``, ``card_declined``): what a
    saga reads to decide to compensate rather than retry. Stored and replayed by the source
    under the idempotency key, so asking again gives the same refusal."""

    code = "WRITE_REJECTED"
    http_status = 409

    def __init__(self, message: str, *, reason: str, **details: Any) -> None:
        super().__init__(message, reason=reason, **details)
        self.reason = reason


class WriteInProgress(SourceError):
    """The source is still applying an earlier request with the same idempotency key: ask
    again shortly (the answer will then be that request's)."""

    code = "WRITE_IN_PROGRESS"
    http_status = 409
    retryable = True
    counts_against_source = False


class OperationNotSupported(ValidationError):
    """The adapter does not offer this write or command (see its capabilities)."""

    code = "OPERATION_NOT_SUPPORTED"
    http_status = 405


class EventBusError(DictaMeshError):
    code = "EVENT_BUS_ERROR"
    http_status = 503


class SerializationError(EventBusError, ValueError):
    code = "SERIALIZATION_ERROR"
    http_status = 400


class SubscriberTooSlow(EventBusError):
    """A live subscriber did not read its change events fast enough and was dropped
    (its bounded queue was full); it may subscribe again."""

    code = "SUBSCRIBER_TOO_SLOW"


class CacheUnavailable(DictaMeshError, ConnectionError):
    """A cache layer (Redis) cannot be reached right now, so an entry could not be read,
    written or — what matters — deleted.

    Transient (HTTP 503): the cache-invalidation consumer retries the batch until the layer
    answers instead of dead-lettering it, so no stale entry survives the outage. Also a
    :class:`ConnectionError`, for code that catches those.
    """

    code = "CACHE_UNAVAILABLE"
    http_status = 503


class CatalogError(DictaMeshError):
    code = "CATALOG_ERROR"
    http_status = 500


class SchemaCompatibilityError(CatalogError):
    code = "SCHEMA_INCOMPATIBLE"
    http_status = 409


class CatalogUnavailable(CatalogError):
    """The catalog database cannot be reached right now (down, restarting, connection lost).

    Transient: the same call may succeed later, so consumers retry instead of dead-lettering.
    """

    code = "CATALOG_UNAVAILABLE"
    http_status = 503


class AuthenticationError(DictaMeshError):
    """No usable credentials, or credentials that do not verify (HTTP 401).

    The message is generic on purpose ("invalid token", "token expired"): it never says
    which check failed, so a forger learns nothing from it.
    """

    code = "UNAUTHENTICATED"
    http_status = 401


class PermissionDenied(DictaMeshError):
    """Authenticated, but not allowed to do this (HTTP 403)."""

    code = "FORBIDDEN"
    http_status = 403


class AuthUnavailable(DictaMeshError):
    """Credentials cannot be verified right now (e.g. the identity provider's JWKS is down)."""

    code = "AUTH_UNAVAILABLE"
    http_status = 503


class TenantQuotaExceeded(DictaMeshError):
    """A tenant used up one of its quotas (requests, GraphQL cost, events) for now (HTTP 429).

    ``retry_after``: seconds until the quota allows the attempt again (``Retry-After``).
    """

    code = "TENANT_QUOTA_EXCEEDED"
    http_status = 429

    def __init__(self, message: str, retry_after: float, **details: Any) -> None:
        super().__init__(message, retry_after=round(retry_after, 3), **details)
        self.retry_after = retry_after


class InternalError(DictaMeshError):
    """A bug on our side (e.g. in an adapter hook before any request was sent).

    Its message is generic on purpose: the exception behind it goes to the log, never to
    the caller. Not a :class:`SourceError`, so no circuit breaker counts it.
    """

    code = "INTERNAL"
    http_status = 500
