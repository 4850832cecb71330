"""The application layer: what the gateway does, with domain inputs and domain errors.

deposit.py (a sender's letter in), decision.py (the recipient's page, decisions and
downloads), outcomes.py (events applied to deliveries: hand-overs, failures, expiry),
senders.py (sender accounts and their passwords), work.py (where blocking work runs),
identity.py (one-time codes before a decision), content_access.py (the content session a
code opens), bounces.py (VERP return paths; DSNs into failures), log_publisher.py (the
evidence log's checkpoints).
Doors (smtp_in, web, api) call these and word their errors in their own protocol; the
services import nothing of the doors.
"""
