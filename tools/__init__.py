"""Offline tools that run beside the product, not inside it (not part of the runtime install)."""
