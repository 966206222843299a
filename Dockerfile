# One image for the server under test and for Locust (master, workers, headless storms).
#
# Python 3.13+ on purpose: its default ThreadPoolExecutor is sized from
# os.process_cpu_count(), which honours CPU affinity, so a compose `cpuset` changes the pool
# size the way it would on a smaller host (a `cpus:` CFS quota does not).
# Offline hosts build one locally: scripts/local_images.py (README "Run the full stack").
ARG PYTHON_IMAGE=python:3.13-slim-bookworm

# ---- build: resolve and install the project into a self-contained virtualenv ----------------
# Every dependency ships manylinux wheels for CPython 3.13, so no compiler is needed even here.
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# The dependencies first, from pyproject.toml alone: a change to the code or the README then
# rebuilds only the last layer (seconds), not every wheel (a minute or more).
COPY pyproject.toml ./
RUN python -c "import subprocess, sys, tomllib; \
deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; \
subprocess.check_call([sys.executable, '-m', 'pip', 'install', '--no-cache-dir', *deps])"
# Only what `pip install .` needs; .dockerignore keeps the rest of the tree out of the context.
COPY setup.py README.md ./
COPY stampede ./stampede
COPY server ./server
COPY loadtest ./loadtest
RUN pip install --no-cache-dir --no-deps . \
    && python -c "import stampede.server, stampede.loadtest"

# ---- runtime: the venv on a clean base, non-root ---------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLCONFIGDIR=/tmp/matplotlib

# A fixed uid/gid so volume ownership (results/) is predictable across rebuilds.
RUN groupadd --system --gid 10001 stampede \
    && useradd --system --uid 10001 --gid stampede --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin stampede

# Same base image in both stages, so the venv's interpreter symlinks stay valid.
COPY --from=build /opt/venv /opt/venv

WORKDIR /app
# Locust wants a file path for -f; the installed package copy lives deep in site-packages.
COPY loadtest/storm/locustfile.py ./locustfile.py

USER 10001:10001

# 8000 server, 8089 Locust web UI, 5557 Locust master<->worker, 9646 Locust client metrics.
EXPOSE 8000 8089 5557 9646

# No curl in the slim image; `stampede healthcheck` GETs http://127.0.0.1:$STAMPEDE_PORT/healthz
# (port 8000 by default), and its argv has no spaces for podman's API to split. 8 s: the CLI's
# own start-up nears 3 s on CPUs shared by a whole compose stack booting.
HEALTHCHECK --interval=10s --timeout=8s --start-period=15s --retries=3 \
    CMD ["stampede", "healthcheck"]

# 0.0.0.0 is the container's own interface; publish the port on the host's 127.0.0.1.
CMD ["stampede", "serve", "--host", "0.0.0.0", "--allow-remote"]
