#!/bin/sh
# Nix post-build-hook: push every path a build produced to the storeswarm node on this machine,
# so the rest of the farm (and the LAN) can substitute it at once.
#
# nix.conf (see nix.conf in this directory):
#   post-build-hook = /etc/nix/storeswarm-post-build-hook.sh
#   secret-key-files = /etc/nix/farm-1.secret     # Nix signs what it builds with this key
#
# Nix runs the hook after each build with OUT_PATHS (space-separated store paths) and DRV_PATH
# set, and with NIX_CONFIG holding its settings (so `nix copy` reads from the same store).
# Where to push (a Nix store URI):
#   STORESWARM_PUSH_TO       default unix://$STORESWARM_DAEMON_SOCKET, i.e. the node's Nix daemon
#                            socket (the node must trust the farm key: [daemon] trusted-public-keys)
#                            or http://127.0.0.1:37515 (the node needs [http] allow-uploads = true;
#                            loopback clients may upload, others need a token in netrc-file)
#   STORESWARM_DAEMON_SOCKET default /run/storeswarm/daemon.sock
#   STORESWARM_SIGN_KEY_FILE optional: sign the paths with this key first (when secret-key-files
#                            is not set, or to add a second signature)
#   STORESWARM_PUSH_TIMEOUT  seconds (default 300)
#
# The hook never fails the build: Nix stops the build loop when a hook fails, and a cache that is
# down should not stop a farm. Failures are reported on stderr (the build log) and exit 0.
set -u
set -f          # OUT_PATHS is split on spaces, never globbed
IFS=' '

# Nix 2.8.0 sets OUT_PATHS empty (NixOS/nix#6446, fixed in 2.8.1): ask for the outputs of DRV_PATH
if [ -z "${OUT_PATHS:-}" ] && [ -n "${DRV_PATH:-}" ]; then
  OUT_PATHS=$(nix-store --query --outputs "$DRV_PATH" 2>/dev/null | tr '\n' ' ')
  OUT_PATHS=${OUT_PATHS% }
fi
[ -n "${OUT_PATHS:-}" ] || exit 0
to=${STORESWARM_PUSH_TO:-unix://${STORESWARM_DAEMON_SOCKET:-/run/storeswarm/daemon.sock}}
limit=${STORESWARM_PUSH_TIMEOUT:-300}
nix_cmd="nix --extra-experimental-features nix-command"

if [ -n "${STORESWARM_SIGN_KEY_FILE:-}" ]; then
  # shellcheck disable=SC2086
  timeout "$limit" $nix_cmd store sign --key-file "$STORESWARM_SIGN_KEY_FILE" $OUT_PATHS \
    || echo "storeswarm post-build-hook: signing failed; pushing unsigned" >&2
fi

# shellcheck disable=SC2086
if timeout "$limit" $nix_cmd copy --to "$to" $OUT_PATHS; then
  echo "storeswarm post-build-hook: pushed $OUT_PATHS to $to" >&2
else
  echo "storeswarm post-build-hook: could not push to $to (status $?); the build is kept" >&2
fi
exit 0
