"""SLA monitoring (``docs/sla.md``): each adapter's declared SLA measured against what
happens (availability, latency, freshness lag, error rate), with breach and recovery events."""

__all__: list[str] = []
