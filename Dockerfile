# actionbot: a slim image running as an unprivileged user.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    ACTIONBOT_DATA_DIR=/app/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install . && useradd --create-home --uid 10001 actionbot
COPY --chown=actionbot:actionbot rules ./rules
COPY --chown=actionbot:actionbot templates ./templates
COPY --chown=actionbot:actionbot data ./data

USER actionbot
# Settings come from the environment (see .env.example); mount /app/data to keep the database.
CMD ["actionbot", "run"]
