"""The stand-in upstream (`proxy.standin`'s app, unchanged) served over TLS, for the bench.

Run: `python bench/standin_tls.py --port 18191 --cert server.pem --key server.key`
(certificates from bench/certs.py). The app is the one `python -m proxy.standin` serves;
only the listening socket differs, so proxy-https against proxy isolates what TLS costs.
"""

from __future__ import annotations

import argparse
import ssl

from aiohttp import web

from proxy.standin import Standin


def main() -> None:
    """Serve the stand-in with an ssl context on loopback until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18191)
    parser.add_argument("--cert", required=True, help="PEM certificate chain")
    parser.add_argument("--key", required=True, help="PEM private key")
    parser.add_argument("--invalid", action="store_true", help="answer schema-violating 201s")
    args = parser.parse_args()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    standin = Standin(invalid=args.invalid)
    standin.keep_received = False  # as `python -m proxy.standin`: no growing list under load
    web.run_app(
        standin.app(),
        host=args.host,
        port=args.port,
        ssl_context=context,
        access_log=None,
        print=None,
    )


if __name__ == "__main__":
    main()
