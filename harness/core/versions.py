"""Version strings of releases and environment axes, parsed in one place on the host (the inside code
has its own, inside/compat.py, since it imports nothing of the host)."""

import re


def version_tuple(version):
    """'1.4.2' -> (1, 4, 2); suffixes such as '.post1' are ignored."""
    parts = []
    for piece in str(version).split("."):
        digits = re.match(r"\d*", piece).group()
        if not digits:
            break
        parts.append(int(digits))
        if digits != piece:  # '0rc1': keep the 0, stop at the pre-release suffix
            break
    return tuple(parts)


def version_key(text):
    """A sort key where '1.10.2' sorts after '1.9': numbers compare as numbers, anything else
    (a 'deb12' numpy, a '?' of an unknown environment) as text, after the numbers."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"[.+-]", str(text)))
