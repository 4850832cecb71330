"""LRE Gateway: email-native electronic registered mail."""

__version__ = "0.1.0"
