# NixOS build machine that seeds the storeswarm node running on it (with ../nixos/module.nix):
# every build's outputs are signed with the farm key and pushed to the node by the
# post-build-hook, over the node's daemon socket.
#
#   nix-store --generate-binary-cache-key farm.example-1 /etc/nix/farm.secret /etc/nix/farm.public
#
# The other machines then use: nix.settings.substituters = [ "http://THIS-HOST:37515" ];
# and trust farmPublicKey (paths keep the farm signature) or the node's own key.
{ ... }:

let
  farmPublicKey = "farm.example-1:REPLACE_WITH_THE_CONTENTS_OF_farm.public=";
in
{
  imports = [ ../nixos/module.nix ];

  services.storeswarm = {
    enable = true;
    # package = …;
    openFirewall = true;
    httpListenAddress = "0.0.0.0";          # the other machines substitute from this one
    openHttpFirewall = true;
    # uploads through the daemon socket must carry a signature by one of these
    settings.daemon.trusted-public-keys = [
      farmPublicKey
      "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="
    ];
  };

  nix.settings = {
    secret-key-files = [ "/etc/nix/farm.secret" ];  # Nix signs what it builds
    post-build-hook = ./post-build-hook.sh;         # copied to the store, runs as root
    trusted-public-keys = [ farmPublicKey ];
  };

  # where the hook finds the node (the module's socket)
  systemd.services.nix-daemon.environment.STORESWARM_DAEMON_SOCKET = "/run/storeswarm/daemon.sock";
}
