"""`python -m proxy` runs the same command line as `portal-proxy`."""

from proxy.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
