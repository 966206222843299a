"""Stampede's retry storms: `locust -f loadtest/storm/locustfile.py --host http://127.0.0.1:8000`.

Every parameter is a Locust custom argument (listed in loadtest/storm/users/arguments.py and in
the web UI's custom parameters; Locust's --help prints before locustfiles load), so this file runs
unchanged headless, in the web UI and as master/worker.
With `--targets to_thread=http://...,future=http://...` the users split evenly between the
targets, each target gets the same seeded schedule, and stats names are prefixed by target.
The storm goes to loopback only unless `--allow-remote[=HOSTS]` (users/loopback.py).
With `--prometheus-port P` the master (or the local runner) serves stampede_client_* metrics;
workers ship theirs to the master inside their regular reports.

Pick user classes by name on the command line, e.g. `... IdempotencyStormUser`. The users are
each registered hazard's (server/hazards/__init__.py), loaded from the "module:Class" its spec
names; Locust finds them as this module's globals.
"""

from locust import events
from stampede.loadtest.storm.users import (
    client_metrics,  # noqa: F401  (registers the exporter's listeners)
    loopback,  # noqa: F401  (refuses non-loopback hosts)
)
from stampede.loadtest.storm.users.arguments import add_arguments
from stampede.loadtest.storm.users.intents import LOG  # noqa: F401  (writes --intents-file)
from stampede.loadtest.storm.users.triggers import run_triggers  # noqa: F401  (--trigger slow-model)
from stampede.server.hazards import HAZARDS
from stampede.server.hazards.spec import load

globals().update({spec.user_class: load(spec.user) for spec in HAZARDS})

events.init_command_line_parser.add_listener(add_arguments)
