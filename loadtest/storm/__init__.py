"""The storm: Locust and what drives it against the variants of a run.

Owns the runner (runner.py: one variant's server, sampler, Locust and deadline), the
locustfile and its users (locustfile.py, users/: intents, retries, duplicates, workloads,
streams and sessions), the Locust worker processes (workers.py), the CPU trigger
(cpu_trigger.py) and the scenarios (scenarios/: one per hazard, with its report hooks).

A new protocol's requests go in users/ (what one attempt sends and how it counts); a new
hazard's storm goes in scenarios/.

May import: observe, process, report, verdict. Never: targets or commands.
"""
