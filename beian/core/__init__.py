"""Pure rules of ICP filing: no storage, no Django. Both the bureau and the provider read them."""
