"""LRE Gateway: email-native electronic registered mail."""

import warnings

__version__ = "0.1.0"

# pyHanko (0.38) imports cryptography's DSA key type, which cryptography 51 deprecates with a
# warning at that import: pyHanko's affair, not the gateway's (it signs with no DSA key),
# and not a line for every process's log (pyproject.toml's filterwarnings ignores it in tests)
warnings.filterwarnings(
    "ignore", message="DSA is deprecated", category=UserWarning, module="pyhanko"
)
