"""SMS: providers (HTTP API, development outbox) and the queue worker that hands SMS to them."""
