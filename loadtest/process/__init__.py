"""Process control: start, cap, watch over and stop the processes of a run.

Owns the host shapes (caps.py: CPU quota, cpuset and memory as cgroups, cgroups.py), the
launcher that starts a target and hands back its handle (launcher.py), process groups and their
cleanup (processes.py, lifeline.py: nothing outlives the harness, even when it is killed), the
signal handling (interrupts.py), the machine-wide run lock (runlock.py) and the checks before a
run starts (startup.py).

May import: verdict, report, the top-level flags and errors, and stampede.server's settings.
Never: observe, storm, targets or commands.
"""
