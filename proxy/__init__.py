"""portal-proxy: validate, mock, record and replay the Tyk Developer Portal's client_types route."""

__version__ = "0.1.0"
