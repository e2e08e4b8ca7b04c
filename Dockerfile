# One image for every Python component of Conveyor; docker-compose picks the command.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    CONVEYOR_ENV=production

RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 curl \
 && rm -rf /var/lib/apt/lists/* \
 && pip install --no-cache-dir uv

WORKDIR /app
# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project

COPY conveyor ./conveyor
COPY conveyor_tools ./conveyor_tools
COPY queue_manager ./queue_manager
COPY ml_data_api ./ml_data_api
COPY worker ./worker
COPY data_source ./data_source
COPY monitoring_api ./monitoring_api
COPY retraining_api ./retraining_api
COPY django_admin ./django_admin
COPY ground_truth_collector ./ground_truth_collector
RUN uv sync --frozen --no-dev

RUN useradd --create-home --uid 1000 conveyor && mkdir -p /data && chown conveyor /data
USER conveyor
WORKDIR /data
