"""Environment ids, the one place that writes and reads them: skl1.3.2-py3.11-np1-amd64.

The third part says where the stack came from: np<major or pin> for the wheel table, img<name>,
req<name>, whl<name> or pypi for environments a user brings."""

import re

_ID = re.compile(r"^skl(?P<sklearn>[^-]+)-py(?P<python>[^-]+)-(?P<stack>[^-]+)-(?P<arch>.+)$")


def format_id(sklearn, python, stack, arch):
    """The id of an environment; stack is e.g. "np1" or "imgserving"."""
    return f"skl{sklearn}-py{python}-{stack}-{arch}"


def parse_id(env_id):
    """{"sklearn", "python", "numpy", "stack", "arch"} of an id (numpy: what follows "np", else
    "?"), or None when the text is no environment id."""
    found = _ID.match(env_id or "")
    if not found:
        return None
    axes = found.groupdict()
    axes["numpy"] = axes["stack"][2:] if axes["stack"].startswith("np") else "?"
    return axes
