# newsclf: one image for the CLI, the workers, beat and the trainer.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    TF_CPP_MIN_LOG_LEVEL=2

WORKDIR /app
COPY pyproject.toml README.md ./
COPY newsclf ./newsclf
COPY schema ./schema
COPY trainer ./trainer
COPY worker ./worker
RUN pip install . \
 && useradd --create-home --uid 10001 newsclf \
 && mkdir -p /models /data \
 && chown newsclf:newsclf /models

USER newsclf
ENV NEWSCLF_MODELS_DIR=/models
ENTRYPOINT ["newsclf"]
CMD ["--help"]
