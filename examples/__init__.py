"""User-style agent servers for `stampede compare --target` (README: "Storm your own server").

Plain FastAPI apps with no Stampede code inside, one hazard each, the buggy design beside the
fixed one, plus a healthy busy app and one that only logs look-alike words. probed.py serves
the same apps with `stampede.probe.install(app)`.
"""
