"""The whole event store on one machine: an AWS emulator, API Gateway, Lambda and the stream pump.

`python -m local_runtime` (or `make run`) starts it; `local_runtime.runtime.start` is the programmatic API.
"""

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# In Lambda the layer's python/ folder is on sys.path; here the repository's shared/ plays that role, so the
# handlers and this package import the same `eventstore` modules the layer ships.
_LAYER = str(REPO_ROOT / "shared")
if _LAYER not in sys.path:
    sys.path.insert(0, _LAYER)
