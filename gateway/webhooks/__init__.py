"""Webhooks: every event of a sender's letters POSTed to its endpoints, signed, in order."""
