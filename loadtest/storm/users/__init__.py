"""Locust user classes for Stampede's storms, one scenario per module.

Shared plumbing: `arguments` (the custom command-line arguments), `base` (target split and
seeding), `outcomes` (failure kinds), `retry` (backoff policies), `client_metrics` (the
Prometheus export of what the clients saw).
"""
