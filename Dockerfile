# portal-proxy: validating mock / recorder / replayer / proxy for the Tyk Developer Portal.
# Configure with PORTAL_PROXY_* variables (e.g. PORTAL_PROXY_UPSTREAM) or by replacing CMD.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY proxy ./proxy
COPY schemas ./schemas
COPY cassettes ./cassettes
RUN pip install '.[fast]' && useradd --create-home --uid 10001 portal && chown -R portal /app
USER portal

EXPOSE 3001
# urlopen raises (exit 1) on a refused connection or any non-2xx answer.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3001/__proxy/health', timeout=2)"]
ENTRYPOINT ["portal-proxy"]
CMD ["mock", "--host", "0.0.0.0", "--port", "3001"]
