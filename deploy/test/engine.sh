#!/usr/bin/env bash
# Sourced by deploy/test/run.sh: a Docker engine and the Debian base image, with no registry.
#
# - Installs Debian's docker.io, docker-compose and debootstrap when missing.
# - Starts dockerd when none answers, with its data under $STOWAGE_DOCKER_ROOT (default
#   ~/.cache/stowage-docker) so images and build layers are cached between runs; the EXIT trap of
#   the caller stops it (engine_stop).
# - Builds debian:bookworm / debian:bookworm-slim with debootstrap when the engine lacks them
#   (no image can be pulled here), with the host's local CA certificates inside so apt works in
#   RUN steps behind the machine's TLS proxy.
# See ../shared/design/CONTAINERS.md in the development environment for the checked recipe.

DOCKER=/usr/bin/docker            # Debian's client: BuildKit works with it
STOWAGE_DOCKER_ROOT="${STOWAGE_DOCKER_ROOT:-$HOME/.cache/stowage-docker}"
ENGINE_PID=""

engine_install() {
  if [ -x /usr/sbin/dockerd ] && [ -x /usr/bin/docker-compose ] && [ -x /usr/sbin/debootstrap ] && [ -x "$DOCKER" ]; then
    return
  fi
  echo "deploy-test: installing docker.io, docker-compose and debootstrap from Debian" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    docker.io docker-compose debootstrap ca-certificates iptables >/dev/null
}

engine_start() {
  if "$DOCKER" info >/dev/null 2>&1; then
    echo "deploy-test: using the running Docker engine" >&2
    return
  fi
  mkdir -p "$STOWAGE_DOCKER_ROOT"
  dockerd --data-root "$STOWAGE_DOCKER_ROOT/data" --exec-root /run/stowage-docker \
    --pidfile /run/stowage-docker.pid >"$STOWAGE_DOCKER_ROOT/dockerd.log" 2>&1 &
  ENGINE_PID=$!
  for _ in $(seq 1 60); do
    if "$DOCKER" info >/dev/null 2>&1; then return; fi
    if ! kill -0 "$ENGINE_PID" 2>/dev/null; then
      tail -20 "$STOWAGE_DOCKER_ROOT/dockerd.log" >&2
      echo "deploy-test: dockerd exited (log above)" >&2
      return 1
    fi
    sleep 0.5
  done
  echo "deploy-test: dockerd did not answer in 30 s (log: $STOWAGE_DOCKER_ROOT/dockerd.log)" >&2
  return 1
}

engine_stop() {
  if [ -n "$ENGINE_PID" ]; then
    kill "$ENGINE_PID" 2>/dev/null || true
    wait "$ENGINE_PID" 2>/dev/null || true
  fi
}

base_image() {
  if "$DOCKER" image inspect debian:bookworm-slim >/dev/null 2>&1; then return; fi
  local mirror rootfs
  # The first Debian mirror apt itself uses (deb822 `URIs:` or one-line `deb` entries, not comments).
  mirror=$( (grep -rhE '^(URIs:|deb) ' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null || true) \
    | grep -oE 'https?://[^ ]+/debian/?( |$)' | head -1 | tr -d ' ')
  mirror="${mirror:-http://deb.debian.org/debian}"
  rootfs=$(mktemp -d)
  echo "deploy-test: building the debian:bookworm base image with debootstrap from $mirror (once)" >&2
  debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" "$mirror" >/dev/null
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates >/dev/null
  fi
  # What Debian's official -slim images also leave out: documentation, manual pages, locales.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*
  tar -C "$rootfs" -c . | "$DOCKER" import -c 'CMD ["/bin/bash"]' - docker.io/library/debian:bookworm >/dev/null
  "$DOCKER" tag debian:bookworm debian:bookworm-slim
  rm -rf "$rootfs"
}
