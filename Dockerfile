# One image for every role: `complaintflow run` (all in one, the default), or one worker per container
# with `complaintflow intake`, `complaintflow router` or `complaintflow notifier` (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/complaintflow complaintflow

# Dependencies first so that a code change does not reinstall them: install the declared dependencies
# from pyproject.toml alone, then the project itself without touching them again.
WORKDIR /src
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt
COPY schemas ./schemas
COPY domain ./domain
COPY kernel ./kernel
COPY complaintflow ./complaintflow
COPY services ./services
RUN pip install --no-deps . && rm -rf /src

# Containers listen on all interfaces (the settings default is loopback, right for a laptop) and keep
# their working files in a directory the unprivileged user owns; docker-compose.yml mounts a volume there.
ENV COMPLAINTFLOW_BIND_HOST=0.0.0.0 \
    COMPLAINTFLOW_VAR_DIR=/var/lib/complaintflow \
    COMPLAINTFLOW_LOG_FORMAT=json \
    HTTP_PORT=8080 \
    SMTP_INTAKE_PORT=2525
RUN mkdir -p /var/lib/complaintflow /app && chown complaintflow:complaintflow /var/lib/complaintflow /app

USER complaintflow
WORKDIR /app
EXPOSE 8080 2525

# Every worker serves /healthz on HTTP_PORT; slim images carry no curl, so ask Python.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('HTTP_PORT', '8080') + '/healthz', timeout=4)"]

CMD ["complaintflow", "run"]
