#!/usr/bin/env bash
# Three storeswarm nodes on one (virtual) LAN: node 1 holds a store path, node 3 fetches it
# from the swarm, the NAR node 3 then serves over HTTP is checked byte for byte, and a Nix
# client substitutes the path from node 3.
#
#   sudo ./lan-demo.sh                        # namespace mode: three network namespaces on a
#                                             # private bridge, peers found with mDNS
#   ./lan-demo.sh                             # without root or `ip`: loopback, --bootstrap
#   ./lan-demo.sh FILE.nar STORE-PATH CA      # share this NAR instead of a generated one
#                                             # (CA as Nix prints it, e.g. fixed:r:sha256:…)
#   LAN_DEMO_MODE=loopback ./lan-demo.sh      # force a mode (netns | loopback)
#
# Peers believe a path info when it is signed by a key they trust or when it is content-addressed;
# the demo uses a content-addressed path (`nix-store --add` into a throw-away chroot store), so no
# keys have to be exchanged. Needs bash, coreutils, nix-store (to make the path, and as the Nix
# client), and curl or wget to show the node's HTTP answers.
# Everything lives under one temp dir; namespaces, processes and files are removed on exit.
# The whole run is bounded (LAN_DEMO_TIMEOUT, default 90 s).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
timeout_s=${LAN_DEMO_TIMEOUT:-90}

# the storeswarm command: $STORESWARM, else the one on PATH, else this checkout's
if [ -n "${STORESWARM:-}" ]; then
  read -r -a ss <<<"$STORESWARM"
elif command -v storeswarm >/dev/null 2>&1; then
  ss=(storeswarm)
elif [ -x "$here/../node_modules/.bin/node" ] && [ -f "$here/../node/bin.ts" ]; then
  ss=("$here/../node_modules/.bin/node" "$here/../node/bin.ts")
else
  echo "lan-demo: storeswarm not found (set STORESWARM=…)" >&2
  exit 1
fi

mode=${LAN_DEMO_MODE:-}
if [ -z "$mode" ]; then
  if [ "$(id -u)" = 0 ] && command -v ip >/dev/null 2>&1; then mode=netns; else mode=loopback; fi
fi
case $mode in netns|loopback) ;; *) echo "lan-demo: LAN_DEMO_MODE must be netns or loopback" >&2; exit 2 ;; esac

work=$(mktemp -d "${TMPDIR:-/tmp}/storeswarm-lan-demo.XXXXXX")
# the demo's nodes see neither your config file nor STORESWARM_* settings (no mDNS on your LAN)
export XDG_CONFIG_HOME="$work/config"
for v in $(compgen -e); do case $v in STORESWARM_*) unset "$v" ;; esac; done
tag=$$
ns=("sslan1-$tag" "sslan2-$tag" "sslan3-$tag")
nsbr="sslanbr-$tag"
pids=()
watchdog=

cleanup () {
  local status=$?
  trap - EXIT INT TERM
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  if [ "$mode" = netns ]; then
    for n in "${ns[@]}" "$nsbr"; do ip netns del "$n" 2>/dev/null || true; done
  fi
  [ -n "$watchdog" ] && kill "$watchdog" 2>/dev/null || true
  chmod -R u+w "$work" 2>/dev/null || true   # store paths are read-only
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'echo "lan-demo: FAILED: timed out" >&2; exit 124' TERM
# the watchdog: kills its own sleep when stopped, holds none of our output open
( trap 'kill "$sp" 2>/dev/null; exit 0' TERM; sleep "$timeout_s" & sp=$!; wait "$sp" && kill -TERM $$ ) </dev/null >/dev/null 2>&1 &
watchdog=$!

say () { echo "lan-demo: $*"; }
die () { echo "lan-demo: FAILED: $*" >&2; exit 1; }

# in node N's network (its namespace, or the host in loopback mode)
in_net () {
  local n=$1; shift
  if [ "$mode" = netns ]; then ip netns exec "${ns[$((n - 1))]}" "$@"; else "$@"; fi
}

# ---- 1. the store path to share ------------------------------------------------------------
if [ $# -ge 3 ]; then
  nar=$1; path=$2; ca=$3
elif [ $# -eq 0 ]; then
  command -v nix-store >/dev/null 2>&1 || die "nix-store is needed to make a store path (or give FILE.nar STORE-PATH CA)"
  mkdir -p "$work/tree/bin"
  printf '#!/bin/sh\necho hello from the storeswarm LAN demo %s\n' "$tag" >"$work/tree/bin/hello"
  chmod +x "$work/tree/bin/hello"
  head -c 300000 /dev/urandom >"$work/tree/blob"
  ln -s bin/hello "$work/tree/link"
  # a content-addressed path in a throw-away chroot store (no daemon, no /nix needed)
  path=$(nix-store --store "$work/nix" --option build-users-group '' --add "$work/tree")
  nix-store --store "$work/nix" --option build-users-group '' --dump "$work/nix$path" >"$work/path.nar"
  nar=$work/path.nar
  ca="fixed:r:$(nix-store --store "$work/nix" --option build-users-group '' -q --hash "$path")"
else
  echo "usage: $0 [FILE.nar STORE-PATH CA]" >&2; exit 2
fi
hashpart=$(basename "$path"); hashpart=${hashpart%%-*}
say "sharing $path ($(wc -c <"$nar") bytes of NAR, $ca)"

# ---- 2. the network --------------------------------------------------------------------------
addr=()
if [ "$mode" = netns ]; then
  # a bridge in its own namespace, one veth per node: nothing touches the host's interfaces
  ip netns add "$nsbr"
  ip -n "$nsbr" link add br0 type bridge
  ip -n "$nsbr" link set br0 up
  for i in 1 2 3; do
    n=${ns[$((i - 1))]}
    ip netns add "$n"
    ip link add "ssl$i-$tag" netns "$n" type veth peer name "p$i" netns "$nsbr"
    ip -n "$n" link set "ssl$i-$tag" name eth0
    ip -n "$n" addr add "10.199.$((tag % 200)).$i/24" dev eth0
    ip -n "$n" link set lo up
    ip -n "$n" link set eth0 up
    ip -n "$n" route add 224.0.0.0/4 dev eth0   # mDNS multicast
    ip -n "$nsbr" link set "p$i" master br0
    ip -n "$nsbr" link set "p$i" up
    addr+=("10.199.$((tag % 200)).$i")
  done
  say "network: namespaces ${ns[*]} on a bridge in $nsbr (10.199.$((tag % 200)).0/24)"
else
  addr=(127.0.0.1 127.0.0.1 127.0.0.1)
  say "network: loopback (no root or no ip: peers join with --bootstrap instead of mDNS)"
fi

# ---- 3. node 1 gets the path, then the three nodes start ---------------------------------
"${ss[@]}" import "$nar" --store-path "$path" --ca "$ca" --data-dir "$work/node1" >/dev/null 2>"$work/import.log" \
  || die "import into node 1: $(cat "$work/import.log")"

wait_log () { # FILE REGEX PID -> first match of REGEX (sed -E group 1) in FILE
  local file=$1 re=$2 pid=$3 got=
  for _ in $(seq 600); do
    got=$(sed -nE "s#.*$re.*#\\1#p" "$file" 2>/dev/null | head -n 1)
    [ -n "$got" ] && { echo "$got"; return 0; }
    kill -0 "$pid" 2>/dev/null || { cat "$file" >&2; return 1; }
    sleep 0.1
  done
  cat "$file" >&2
  return 1
}

start_node () { # N [extra flags…]: runs node N in the background
  local i=$1; shift
  local flags=(serve --data-dir "$work/node$i" --http 127.0.0.1:0 --no-daemon --no-eris --listen "/ip4/${addr[$((i - 1))]}/tcp/0" "$@")
  local exec_in=()
  [ "$mode" = netns ] && exec_in=(ip netns exec "${ns[$((i - 1))]}")
  # exec: $! must be the node itself, so that cleanup's kill reaches it
  ( exec "${exec_in[@]}" "${ss[@]}" "${flags[@]}" ) >"$work/node$i.log" 2>&1 </dev/null &
  pids[$i]=$!
}

http=()
p2p=()
node_up () { # N: waits for node N's cache URL and swarm address
  local i=$1
  http[$i]=$(wait_log "$work/node$i.log" 'Nix binary cache on (http://[^ ]+)' "${pids[$i]}") || die "node $i did not start"
  p2p[$i]=$(wait_log "$work/node$i.log" 'listening on (/ip4/[^ ]+/p2p/[^ ]+)' "${pids[$i]}") || die "node $i has no swarm address"
  say "node $i: ${p2p[$i]}, cache ${http[$i]}"
}

if [ "$mode" = netns ]; then
  for i in 1 2 3; do start_node "$i" --mdns; done
  for i in 1 2 3; do node_up "$i"; done
else
  start_node 1
  node_up 1
  for i in 2 3; do start_node "$i" --bootstrap "${p2p[1]}"; done
  for i in 2 3; do node_up "$i"; done
fi

# ---- 4. wait until node 3 sees both other nodes -------------------------------------------
peers=0
for _ in $(seq 300); do
  # `peers` prints "self …", its addresses, then one line per connected peer
  peers=$(timeout 10 "${ss[@]}" peers --data-dir "$work/node3" 2>/dev/null | awk '/^(12D3|Qm)/ { n++ } END { print n + 0 }')
  [ "$peers" -ge 2 ] && break
  sleep 0.2
done
[ "$peers" -ge 2 ] || die "node 3 found $peers peer(s), not 2"
say "node 3 is connected to $peers peers"

# ---- 5. node 3 fetches the path from the swarm, then serves it ----------------------------
# (asking node 3's HTTP cache for the narinfo would fetch it from the peers just the same:
# that is what Nix does when node 3 is its substituter)
timeout 60 "${ss[@]}" fetch "$path" --data-dir "$work/node3" >"$work/fetch.json" 2>"$work/fetch.log" \
  || die "fetch on node 3: $(cat "$work/fetch.log")"
say "node 3 fetched: $(cat "$work/fetch.json")"

want=sha256:$(sha256sum "$nar" | cut -d' ' -f1)
if command -v nix-hash >/dev/null 2>&1; then want=sha256:$(nix-hash --type sha256 --to-base32 "${want#sha256:}"); fi
checks=0

# with an HTTP client: the narinfo and the NAR as node 3 serves them
http_get () { # URL, from node 3's network
  if command -v curl >/dev/null 2>&1; then in_net 3 curl -fsS --max-time 30 "$1"
  else in_net 3 wget -q -T 30 -O - "$1"; fi
}
if command -v curl >/dev/null 2>&1 || command -v wget >/dev/null 2>&1; then
  http_get "${http[3]}/$hashpart.narinfo" >"$work/narinfo" || die "node 3 does not serve the narinfo"
  narhash=$(sed -n 's/^NarHash: //p' "$work/narinfo")
  [ "$narhash" = "$want" ] || die "narinfo NarHash $narhash, want $want"
  http_get "${http[3]}/$(sed -n 's/^URL: //p' "$work/narinfo")" >"$work/fetched.nar" || die "node 3 does not serve the NAR"
  cmp -s "$nar" "$work/fetched.nar" || die "the NAR node 3 serves differs from node 1's"
  say "node 3 serves $path: NarHash $narhash, $(wc -c <"$work/fetched.nar") bytes, identical to node 1's NAR"
  checks=$((checks + 1))
fi

# ---- 6. a Nix client on node 3's machine substitutes the path from node 3 ---------------
# (content-addressed paths need no signature; for signed ones trust the node's key instead)
if command -v nix-store >/dev/null 2>&1; then
  client=(nix-store --store "$work/client" --option build-users-group '')
  mkdir -p "$work/client-home"
  in_net 3 env HOME="$work/client-home" XDG_CACHE_HOME="$work/client-home/cache" NIX_CONFIG= NIX_REMOTE= \
    timeout 60 "${client[@]}" --option substituters "${http[3]}" --option narinfo-cache-negative-ttl 0 \
    -r "$path" >"$work/client.out" 2>"$work/client.log" \
    || die "nix-store -r from node 3: $(cat "$work/client.log")"
  "${client[@]}" --dump "$work/client$path" >"$work/client.nar"
  cmp -s "$nar" "$work/client.nar" || die "the path Nix got from node 3 differs from node 1's"
  [ "$("${client[@]}" -q --hash "$path")" = "$want" ] || die "the client's copy has another NarHash"
  say "nix-store -r $path with substituters = ${http[3]}: done, NarHash $want matches"
  checks=$((checks + 1))
fi
[ "$checks" -gt 0 ] || die "nothing to check node 3's copy with: install curl, wget or nix-store"
say "OK: node 3 fetched $path from the swarm ($mode mode) and the bytes check out"
