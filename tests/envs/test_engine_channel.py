"""A container's stdout, the load stage's results channel, arrives whole however much it says:
it is read through an attach, not by following the engine's log file, which rotates."""

import pytest

from conftest import exclusive
from harness.envs import bases, engine
from harness.core import platforms
from harness.core.cache import Cache

LINES, WIDTH = 20_000, 2_000  # 40 MB: hundreds of rotations of a 64 kB log


@pytest.mark.container
def test_the_channel_survives_the_engines_log_rotation(docker_client, monkeypatch):
    with exclusive("base-3.11-amd64"):
        base = bases.ensure_base(docker_client, "python:{python}-slim", "3.11", platforms.HOST_ARCH, Cache.default())
    monkeypatch.setattr(engine, "LOG_LIMIT", {"max-size": "64k", "max-file": "2"})
    script = ("import sys\nfor i in range(%d):\n    sys.stdout.write('%%06d %%s\\n' %% (i, 'x' * %d))"
              % (LINES, WIDTH))
    stream = engine.start(docker_client, base, ["python3.11", "-c", script])
    data = b"".join(stream.chunks())
    code, _ = stream.finish()
    lines = data.split(b"\n")[:-1]
    assert code == 0 and len(lines) == LINES
    bad = [i for i, line in enumerate(lines) if line != b"%06d %s" % (i, b"x" * WIDTH)]
    assert bad == [], f"{len(bad)} lines lost or cut, the first at {bad[:1]}"
