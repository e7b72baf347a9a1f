"""Enforcement (DESIGN §7): may this Host be served here? The decision, the block page, and the
exports for edge proxies, among them the served-set feed that edges follow. It reads the provider's
mirror and never writes it; what it writes is its own: the edges allowed to follow the feed."""
