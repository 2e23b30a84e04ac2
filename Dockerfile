# syntax=docker/dockerfile:1
# ecs-operator container image: docker build -t ecs-operator:0.1.0 .
#
# Two stages: the builder installs the locked, hash-checked dependencies into a venv; the final
# stage gets only that venv and the operator package (no pip cache, no compilers, no build tools)
# and runs as the non-root user 65532, matching the chart's restricted securityContext.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- builder ---------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
COPY requirements/lock.txt /tmp/lock.txt
# Every dependency pinned and hash-checked; wheels only, so no compiler is ever needed.
RUN /opt/venv/bin/pip install --require-hashes --only-binary=:all: -r /tmp/lock.txt

# The operator package itself is plain Python: copied, not built (no unhashed build backend).
COPY operator/ecs_operator /opt/app/ecs_operator
RUN printf '%s\n' '#!/opt/venv/bin/python' 'import sys' 'from ecs_operator.cli import main' \
        'sys.exit(main())' > /opt/venv/bin/ecs-operator \
    && chmod 0755 /opt/venv/bin/ecs-operator \
    && /opt/venv/bin/python -m compileall -q /opt/app/ecs_operator

# ---- final -----------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS final

LABEL org.opencontainers.image.title="ecs-operator" \
      org.opencontainers.image.description="Run Amazon ECS task definitions and services, unchanged, on Kubernetes" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp

RUN groupadd --system --gid 65532 nonroot \
    && useradd --system --uid 65532 --gid 65532 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin nonroot

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /opt/app /opt/app

USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["ecs-operator"]
CMD ["run", "--liveness", "http://0.0.0.0:8080/healthz"]
