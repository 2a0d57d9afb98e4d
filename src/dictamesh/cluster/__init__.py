"""Running one mesh on several nodes (``docs/scale-out.md``).

What several processes must agree on lives here, over the catalog's public database surface
and the cache layer's Redis: which node captures a source (leader leases, a file lock on
the embedded default), the change-detection state every capture leader resumes from, and
the limits that must hold mesh-wide (rate limits, tenant quotas) rather than per process.
Higher layers (tenancy, gateway, node) use it; it imports only ``catalog``, ``events``,
``cache`` and ``core``.
"""

from dictamesh.cluster.buckets import (
    BucketStore,
    FailOpenBuckets,
    LocalBuckets,
    RedisBuckets,
    Take,
    TokenBucket,
)
from dictamesh.cluster.capture import CaptureLeadership, LeaderMetrics
from dictamesh.cluster.change_state import CatalogChangeStateStore
from dictamesh.cluster.leader import LeaderElector
from dictamesh.cluster.leases import FileLeases, Lease, LeaseBackend, LeaseLost, LeaseStore
from dictamesh.cluster.shared_redis import SharedRedis
from dictamesh.cluster.state import SharedState
from dictamesh.cluster.webhook_inbox import CatalogWebhookInbox

# capture leases (leader election, shared change state and webhook inbox) and shared
# state in Redis (limits, quotas)
__all__ = [
    "BucketStore",
    "CaptureLeadership",
    "CatalogChangeStateStore",
    "CatalogWebhookInbox",
    "FailOpenBuckets",
    "FileLeases",
    "LeaderElector",
    "LeaderMetrics",
    "Lease",
    "LeaseBackend",
    "LeaseLost",
    "LeaseStore",
    "LocalBuckets",
    "RedisBuckets",
    "SharedRedis",
    "SharedState",
    "Take",
    "TokenBucket",
]
