"""The REST API under /api/v1: a third door (beside SMTP and the web) to the same registry."""
