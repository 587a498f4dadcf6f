# portal-proxy: validating mock / recorder / replayer / proxy for the Tyk Developer Portal.
# Configure with PORTAL_PROXY_* variables (e.g. PORTAL_PROXY_UPSTREAM) or by replacing CMD.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# Listen on every interface: a CMD replaced without --host still serves outside.
ENV PORTAL_PROXY_HOST=0.0.0.0 \
    PORTAL_PROXY_PORT=3001

WORKDIR /app
COPY pyproject.toml README.md ./
COPY proxy ./proxy
COPY schemas ./schemas
COPY cassettes ./cassettes
# /app/cassettes is world-writable (sticky, like /tmp): `docker run --user "$(id -u):$(id -g)"`
# records into it, and into a bind mount owned by that user, without permission errors.
RUN pip install '.[fast]' && useradd --create-home --uid 10001 portal \
    && chown -R portal /app && chmod 1777 /app/cassettes
USER portal
VOLUME /app/cassettes

EXPOSE 3001
# Follows the port: `--port` in CMD, else PORTAL_PROXY_PORT (see proxy/healthcheck.py).
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["python", "-m", "proxy.healthcheck"]
ENTRYPOINT ["portal-proxy"]
CMD ["mock"]
