"""Sample third-party sources for the demo and tests: a Directus-like customers API, a REST
products API, an e-commerce invoices API and a Stripe-like payment gateway, served
in-process with seeded data.

Example::

    async with run_sample_sources() as sources:
        configs = reference_adapter_configs(sources)
"""

from dictamesh.sources.runner import (
    SampleSources,
    SourceEndpoints,
    reference_adapter_configs,
    run_sample_sources,
)

__all__ = ["SampleSources", "SourceEndpoints", "reference_adapter_configs", "run_sample_sources"]
