"""`stampede bench`: benchmarks that print figures, never pass/fail.

Each bench measures its baseline in the same run and quotes its results as ratios to it, so
figures taken on a busy, shared machine still compare: `waiters` against the asyncio floor,
`server` against a bare FastAPI endpoint doing the same work. The command line is in cli.py;
this package imports nothing, so the load generator's subprocess starts fast.
"""
