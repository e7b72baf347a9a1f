"""Enforcement (DESIGN §7): may this Host be served here? The decision, the block page, and the
exports for edge proxies. It reads the provider's mirror and never writes anything."""
