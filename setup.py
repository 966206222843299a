"""Maps the repository's folders into the one `stampede` import namespace.

server/ and loadtest/ stay at the repository root (the compose file, the Dockerfile and
`locust -f loadtest/storm/locustfile.py` name them), but install as `stampede.server` and
`stampede.loadtest`; everything else about the project is in pyproject.toml. The symlinks
stampede/server and stampede/loadtest show the same layout on disk (import-linter reads the
package from there); they are excluded here, so the wheel holds each module once.
"""

from setuptools import find_packages, setup

ROOTS = {"stampede": "stampede", "stampede.server": "server", "stampede.loadtest": "loadtest"}

setup(
    package_dir=ROOTS,
    packages=[
        f"{name}.{sub}" if sub else name
        for name, folder in ROOTS.items()
        for sub in ["", *find_packages(folder, exclude=["server*", "loadtest*"])]
    ],
)
