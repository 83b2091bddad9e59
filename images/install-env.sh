#!/bin/sh
# Makes an environment's venv at /opt/env from the wheels mounted at /tmp/wheels, offline.
# Run by harness/envs/recipe.py in containers of the environment's base (its hash is in every
# image tag); do not run by hand. Usage: install-env.sh PYTHON ENV_ID QEMU_CPU STEP...
#   install  the venv and its wheels, without bytecode, then the import check
#   compile  the bytecode of every module: run natively for an emulated image, since .pyc files
#            do not depend on the CPU and compiling thousands of files under qemu takes minutes
#   copy     /tmp/built-env to /opt/env: the emulated image's own layer, made from the steps above
set -eu
python=$1 env_id=$2 cpu=$3
shift 3
# Every step runs as the CPU the containers get (harness/envs/numerics.py). qemu's default for
# arm64 authenticates pointers the slow way, and trixie's binaries sign theirs: pip alone took
# 290 s under it against about 100 s as a Neoverse N1.
if [ -n "$cpu" ]; then export QEMU_CPU="$cpu"; fi
for step in "$@"; do
    case "$step" in
    install)
        "python$python" -m venv /opt/env
        /opt/env/bin/python -m pip install --no-index --no-deps --no-cache-dir --disable-pip-version-check \
            --no-compile /tmp/wheels/*.whl
        PYTHONDONTWRITEBYTECODE=1 /opt/env/bin/python -c "import sklearn, numpy, scipy, joblib, threadpoolctl; print('environment $env_id:', 'scikit-learn', sklearn.__version__, 'numpy', numpy.__version__, 'scipy', scipy.__version__)"
        /opt/env/bin/python -m pip check --disable-pip-version-check || true
        ;;
    compile)
        # Errors are the sources' own (a package's test data that is not Python): pip ignores them too.
        "python$python" -m compileall -q -j 0 /opt/env/lib > /dev/null || true
        ;;
    copy)
        mkdir -p /opt
        cp -a /tmp/built-env /opt/env
        ;;
    *)
        echo "install-env.sh: unknown step $step" >&2
        exit 2
        ;;
    esac
done
