"""Stampede's harness, grouped by role: commands/ over storm/ and targets/, over observe/ and
process/, over report/ over verdict/ (README "Architecture"; pyproject.toml's contracts).

Only the CLI (cli.py), the argparse converters (flags.py) and the errors (errors.py) live at
this level.
"""
