"""Stampede's harness: locustfiles, caps, sampler, runner, reports and the CLI."""
