# NixOS: use a storeswarm node running on this machine as a substituter.
# Replace the key with the output of: storeswarm keys show --nix
# (nixos/module.nix runs the node as a service and sets these itself.)
{
  nix.settings = {
    extra-substituters = [ "http://127.0.0.1:37515" ];
    extra-trusted-public-keys = [ "storeswarm-myhost-1:REPLACE_WITH_YOUR_NODE_KEY=" ];
  };
}
