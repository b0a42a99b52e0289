"""The event store's Lambda layer: domain, storage, validation and the HTTP mapping."""
