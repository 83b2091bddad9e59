"""The environment record: interpreter, platform, installed packages, data hash, time."""

import datetime
import pickle
import platform
import sys

from .. import schema
from ..data import data_hash


def installed_packages():
    """{normalised name: version} of every installed distribution (importlib.metadata)."""
    try:
        from importlib import metadata
    except ImportError:  # Python < 3.8: no importlib.metadata; the floor is 3.9, be defensive
        return {}
    out = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            out[name.lower().replace("_", "-")] = dist.version
    return dict(sorted(out.items()))


def _version_of(module_name):
    try:
        module = __import__(module_name)
    except Exception as exc:  # noqa: BLE001 - a broken optional package is information
        return None if isinstance(exc, ImportError) else "broken: %s" % type(exc).__name__
    return getattr(module, "__version__", "unknown")


def threadpools():
    """BLAS/OpenMP libraries as threadpoolctl sees them (None when it is missing)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    keep = ("user_api", "internal_api", "version", "num_threads", "threading_layer",
            "architecture")
    return [dict((k, info.get(k)) for k in keep if k in info) for info in threadpool_info()]


def utc_now():
    """ISO 8601 UTC timestamp with a Z suffix."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    return now.isoformat().replace("+00:00", "Z")


def environment(producer):
    """The metadata record of this environment, as stored in manifest.json."""
    return {
        "schema": schema.SCHEMA_VERSION,
        "producer": producer,
        "timestamp": utc_now(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "sklearn": _version_of("sklearn"),
        "numpy": _version_of("numpy"),
        "scipy": _version_of("scipy"),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "byteorder": sys.byteorder,
        "pickle_default_protocol": pickle.DEFAULT_PROTOCOL,
        "pickle_highest_protocol": pickle.HIGHEST_PROTOCOL,
        "data_hash": data_hash(),
        "packages": installed_packages(),
        "threadpools": threadpools(),
    }
