"""`stampede plan`: the command (plan_cli.py), the plan's search and document (plan.py), the
probes against fresh capped servers (probe.py) and the capacity report (plan_report.py)."""
