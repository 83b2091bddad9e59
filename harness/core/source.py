"""Where the project's own files are: the host's code, the code run inside environments, the data
and the image recipes."""

from pathlib import Path

HARNESS = Path(__file__).resolve().parents[1]
INSIDE = HARNESS / "inside"
DATA = HARNESS / "data"
IMAGES = HARNESS.parent / "images"
