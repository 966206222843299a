"""`stampede compare`: the command (command.py), what a run is (options.py), its time budget
(budget.py), running it (run.py) and its report (report.py)."""
