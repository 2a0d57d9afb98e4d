"""Layer 7: durable sagas with compensation, on the mesh's own database and bus.

A saga is a sequence of steps, each acting on a source through an adapter's writes (with
idempotency keys) and each with a compensation undoing it. The engine stores every step
before and after it runs, resumes unfinished sagas when a node restarts, shares the work of
several nodes through leases, and compensates in reverse order when a step fails.
``docs/sagas.md`` is the guide; ADR 0005 says why the engine is our own.

Example::

    from dictamesh.saga import CREATE_INVOICE, SagaEngine, SagaStore

    engine = SagaEngine(SagaStore(database), [CREATE_INVOICE], writers, node="node-1")
    async with engine:
        record, created = await engine.start("create_invoice", payload, principal=who)
"""

from dictamesh.saga.create_invoice import CREATE_INVOICE, CreateInvoiceInput
from dictamesh.saga.definition import SagaDefinition, SagaStep, StepContext, StepRetry
from dictamesh.saga.engine import SagaEngine, SagaStateError
from dictamesh.saga.store import SagaRecord, SagaStatus, SagaStore, StepRecord

__all__ = [
    "CREATE_INVOICE",
    "CreateInvoiceInput",
    "SagaDefinition",
    "SagaEngine",
    "SagaRecord",
    "SagaStateError",
    "SagaStatus",
    "SagaStep",
    "SagaStore",
    "StepContext",
    "StepRecord",
    "StepRetry",
]
