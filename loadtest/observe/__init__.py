"""Observation of a running target: what it is doing, seen from outside or through its probe.

Owns the 0.5 s sampler (sampler.py: psutil, the server's /metrics, the clients'), the black box
for servers Stampede did not write (blackbox.py: stalls, py-spy stacks, stderr), the stack
classifier (stack_evidence.py), the stderr loop-error reader (stderr_errors.py) and the status
reads of a live server (server_http.py).

A new detector goes here: it reads a target and hands records to verdict/, it decides nothing
about the run's outcome itself.

May import: verdict, report, stampede.probe (its classifiers and metric names). Never: process,
storm, targets or commands.
"""
