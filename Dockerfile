# Steady: the Telegram bot in a small, non-root container.
#   docker build -t steady .
#   docker run -e TELEGRAM_BOT_TOKEN=... -v steady-data:/data steady
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STEADY_DATA_DIR=/data

RUN useradd --create-home --uid 10001 steady \
    && mkdir /data && chown steady:steady /data && chmod 0700 /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY dialogues ./dialogues
COPY prompts ./prompts
COPY storage ./storage
RUN pip install .

USER steady
VOLUME ["/data"]
# Webhook mode listens here; polling mode needs no open port.
EXPOSE 8443
CMD ["steady", "run"]
