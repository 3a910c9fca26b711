import sys
from pathlib import Path

# The runtime files are meant to run from any folder; make the repo importable
# whether or not the package is installed.
ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
