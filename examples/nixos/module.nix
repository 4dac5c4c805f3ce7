# NixOS module: services.storeswarm — run a storeswarm node and let this machine's Nix
# substitute from it.
#
#   imports = [ ./module.nix ];
#   services.storeswarm = {
#     enable = true;
#     package = storeswarmPackage;          # see examples/README.md: no nixpkgs attribute yet
#     openFirewall = true;                  # P2P port (TCP 4001), mDNS (UDP 5353) if enabled
#     settings.p2p.mdns = true;             # find peers on the LAN
#     # the node's key: either read it after the first start (journalctl -u storeswarm, or
#     # `storeswarm keys show --nix --data-dir /var/lib/storeswarm`) and pin it here …
#     publicKey = "storeswarm-myhost-1:BASE64…";
#     # … or make one in advance and give both halves:
#     #   nix-store --generate-binary-cache-key storeswarm-myhost-1 secret public
#     # secretKeyFile = "/etc/storeswarm/nix-cache.secret";   # root-only file, not in the store
#   };
#
# `settings` is the node's config.toml (see `storeswarm config reference`); the module fills in
# data-dir, the listen addresses from httpPort/p2pPort, the daemon socket and the secret key file.
{ config, lib, pkgs, ... }:

let
  inherit (lib) mkOption mkEnableOption mkIf types optional optionals optionalAttrs;
  cfg = config.services.storeswarm;
  settingsFormat = pkgs.formats.toml { };

  url = "http://127.0.0.1:${toString cfg.httpPort}";
  credentialDir = "/run/credentials/storeswarm.service";

  # what the module sets, under what the user sets
  settings = lib.recursiveUpdate
    ({
      data-dir = "/var/lib/storeswarm";
      http = {
        listen = "${cfg.httpListenAddress}:${toString cfg.httpPort}";
      } // optionalAttrs (cfg.secretKeyFile != null) {
        secret-key-file = "${credentialDir}/nix-cache.secret";
      };
      daemon.socket = "/run/storeswarm/daemon.sock";
      p2p.listen = [ "/ip4/0.0.0.0/tcp/${toString cfg.p2pPort}" ];
    })
    cfg.settings;

  configFile = settingsFormat.generate "storeswarm.toml" settings;
  mdns = (settings.p2p or { }).mdns or false;
in
{
  options.services.storeswarm = {
    enable = mkEnableOption "storeswarm, a peer-to-peer substitution node for Nix and Guix";

    package = mkOption {
      type = types.package;
      description = "The storeswarm package (its bin/storeswarm is run).";
    };

    settings = mkOption {
      type = settingsFormat.type;
      default = { };
      example = {
        p2p.mdns = true;
        p2p.bootstrap = [ "/dns4/node.example.org/tcp/4001/p2p/12D3KooW…" ];
        gc.max-size = "50G";
        upstream = [{ url = "https://cache.nixos.org"; public-keys = [ "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=" ]; }];
      };
      description = ''
        The node's config.toml (keys as in `storeswarm config reference`). Values given here win
        over the ones the module derives from its other options.
      '';
    };

    httpPort = mkOption {
      type = types.port;
      default = 37515;
      description = "Port of the node's Nix binary cache.";
    };

    httpListenAddress = mkOption {
      type = types.str;
      default = "127.0.0.1";
      example = "0.0.0.0";
      description = "Address of the binary cache: 127.0.0.1 serves this machine, 0.0.0.0 the LAN.";
    };

    p2pPort = mkOption {
      type = types.port;
      default = 4001;
      description = "TCP port of the peer-to-peer swarm (fixed, so that it can be opened).";
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open the P2P port (TCP), and UDP 5353 when settings.p2p.mdns is set.";
    };

    openHttpFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open the binary cache port too (only useful with httpListenAddress = \"0.0.0.0\").";
    };

    publicKey = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "storeswarm-myhost-1:BASE64…";
      description = ''
        The node's Nix public key, trusted by this machine's Nix. The node generates its key on
        first start (printed as `trusted-public-keys = …` in its log); pin it here afterwards, or
        set secretKeyFile and the matching public key before the first start.
      '';
    };

    secretKeyFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/etc/storeswarm/nix-cache.secret";
      description = ''
        Sign with this Nix secret key (nix-store --generate-binary-cache-key) instead of the
        generated one. A path outside the Nix store: it is handed to the service with
        LoadCredential, so it may stay readable by root only.
      '';
    };

    useAsSubstituter = mkOption {
      type = types.bool;
      default = true;
      description = "Add the node to nix.settings.substituters (and publicKey to trusted-public-keys).";
    };
  };

  config = mkIf cfg.enable {
    warnings = optional (cfg.useAsSubstituter && cfg.publicKey == null)
      "services.storeswarm: publicKey is not set, so Nix will not trust the node's signatures yet; read the key from `journalctl -u storeswarm` after the first start and set it.";

    systemd.services.storeswarm = {
      description = "storeswarm: peer-to-peer substitution node for Nix and Guix";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];
      environment = {
        HOME = "/var/lib/storeswarm";
        XDG_DATA_HOME = "/var/lib";
        XDG_RUNTIME_DIR = "/run";
      };
      serviceConfig = {
        ExecStart = "${lib.getExe' cfg.package "storeswarm"} serve --config ${configFile}";
        Restart = "on-failure";
        RestartSec = "5s";
        TimeoutStopSec = "30s";
        DynamicUser = true;
        StateDirectory = "storeswarm";
        StateDirectoryMode = "0750";
        RuntimeDirectory = "storeswarm";
        RuntimeDirectoryMode = "0755";
        WorkingDirectory = "/var/lib/storeswarm";
        UMask = "0027";
        LimitNOFILE = 65536;
        NoNewPrivileges = true;
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        PrivateDevices = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectClock = true;
        ProtectHostname = true;
        ProtectProc = "invisible";
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        LockPersonality = true;
        RemoveIPC = true;
        RestrictAddressFamilies = [ "AF_UNIX" "AF_INET" "AF_INET6" "AF_NETLINK" ];
        SystemCallArchitectures = "native";
        SystemCallFilter = [ "@system-service" "~@privileged" ];
        CapabilityBoundingSet = "";
        # MemoryDenyWriteExecute stays off: Node's JIT needs W+X pages
      } // optionalAttrs (cfg.secretKeyFile != null) {
        LoadCredential = [ "nix-cache.secret:${cfg.secretKeyFile}" ];
      };
    };

    # the same file for `storeswarm config show --config /etc/storeswarm/config.toml`
    environment.etc."storeswarm/config.toml".source = configFile;

    networking.firewall.allowedTCPPorts =
      optional cfg.openFirewall cfg.p2pPort ++ optional cfg.openHttpFirewall cfg.httpPort;
    networking.firewall.allowedUDPPorts = optional (cfg.openFirewall && mdns) 5353;

    nix.settings.substituters = optional cfg.useAsSubstituter url;
    nix.settings.trusted-public-keys = optionals (cfg.useAsSubstituter && cfg.publicKey != null) [ cfg.publicKey ];
  };
}
