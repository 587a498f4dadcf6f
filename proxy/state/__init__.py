"""The stateful mock: resources inferred from the spec, a bounded store, and a
source that answers a collection's and an item's operations from it."""

from proxy.state.source import StateSource

__all__ = ["StateSource"]
