#!/usr/bin/env bash
# Bring up a Docker engine (with arm64 emulation) on a Debian host. Idempotent.
#
# Users who already run Docker never need this; CI and fresh Debian machines do.
# Installs docker.io, qemu-user-static, binfmt-support and debootstrap when missing,
# starts dockerd when no engine answers, enables the arm64 binfmt handler, and
# waits until the engine answers.
set -euo pipefail

log() { printf 'setup-engine: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

engine_answers() { docker info >/dev/null 2>&1; }

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v qemu-aarch64-static >/dev/null 2>&1 || need+=(qemu-user-static)
command -v update-binfmts >/dev/null 2>&1 || need+=(binfmt-support)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if [ "${#need[@]}" -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "need root to install ${need[*]} (or install them yourself)"
  command -v apt-get >/dev/null 2>&1 || die "no apt-get: install ${need[*]} with your package manager"
  log "installing ${need[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

# binfmt_misc lets the kernel run arm64 binaries through qemu; mount it when the host has not.
if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null \
    || log "warning: cannot mount binfmt_misc; arm64 environments will not run"
fi
# arm64 and s390x (big-endian) run through qemu; i386 needs no handler: the amd64 kernel runs
# 32-bit binaries itself.
for handler in qemu-aarch64 qemu-s390x; do
  if [ -e /proc/sys/fs/binfmt_misc/status ] && [ ! -e /proc/sys/fs/binfmt_misc/$handler ]; then
    update-binfmts --enable $handler 2>/dev/null || log "warning: could not enable $handler"
  fi
done

if engine_answers; then
  log "engine already answers"
else
  if ! command -v dockerd >/dev/null 2>&1; then die "dockerd not found after install"; fi
  log "starting dockerd (log: /var/log/dockerd.log)"
  # containerd ships with docker.io; dockerd starts its own when none runs.
  nohup dockerd >/var/log/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    engine_answers && break
    sleep 1
  done
  engine_answers || die "dockerd did not answer within 60 s; see /var/log/dockerd.log"
  log "engine answers"
fi

if [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  log "arm64 emulation: $(head -n1 /proc/sys/fs/binfmt_misc/qemu-aarch64)"
fi
if [ -e /proc/sys/fs/binfmt_misc/qemu-s390x ]; then
  log "s390x emulation: $(head -n1 /proc/sys/fs/binfmt_misc/qemu-s390x)"
fi
