"""Reading a message (RFC 5322/MIME, RFC 3464 DSNs), pure and bounded; used by every door."""
