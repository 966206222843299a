"""Verdicts: the figures and claims drawn from what a run observed. Pure computation, no I/O
beyond reading a run's own files.

Owns intents and their outcomes (intents.py), phases (phases.py), the `--fail-on` gates
(gates.py), a target's verdict (target_verdict.py), the evidence behind a wedge (evidence.py),
the figures the plots draw (figures.py), the columns of one sample (samples.py) and the one
percentile (stats.py).

A new verdict, a new state or a new gate goes here.

May import: stampede.probe's names and stampede.server's settings. Nothing else of the harness:
everything above reads its verdicts from here.
"""
