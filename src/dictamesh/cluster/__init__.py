"""Running one mesh on several nodes (``docs/scale-out.md``).

What several processes must agree on lives here, over the catalog's public database surface
and the cache layer's Redis: which node captures a source (leader leases, a file lock on
the embedded default), the change-detection state every capture leader resumes from, and
the limits that must hold mesh-wide (rate limits, tenant quotas) rather than per process.
Higher layers (tenancy, gateway, node) use it; it imports only ``catalog``, ``events``,
``cache`` and ``core``.
"""

# submodules, imported by who needs them (importing the package opens nothing)
__all__ = ["capture", "change_state", "leader", "leases", "tables", "webhook_inbox"]
