;;; storeswarm on Guix System: a Shepherd service for the node, and the operating-system changes
;;; that make guix-daemon substitute from it.
;;;
;;; In your system configuration (config.scm):
;;;
;;;   (load "storeswarm-service.scm")     ; or copy the definitions into a module of yours
;;;   (storeswarm-operating-system
;;;     (operating-system
;;;       (host-name "myhost")
;;;       ...)
;;;     #:configuration (storeswarm-configuration (mdns? #t))
;;;     #:public-key (local-file "storeswarm.pub"))
;;;
;;; The node makes its signing keys on first start. Reconfigure once without #:public-key
;;; (guix-daemon then only takes narinfos from the node that an authorized server also lists),
;;; then save the key and reconfigure with it:
;;;
;;;   sudo -u storeswarm storeswarm keys show --guix --data-dir /var/lib/storeswarm > storeswarm.pub
;;;   sudo guix system reconfigure config.scm
;;;
;;; On a foreign distribution (Guix as a package manager, guix-daemon run by systemd or by hand),
;;; run `storeswarm serve --http-guix 127.0.0.1:37516` and instead:
;;;
;;;   storeswarm keys show --guix | sudo guix archive --authorize
;;;   guix-daemon --build-users-group=guixbuild \
;;;     --substitute-urls="http://127.0.0.1:37516 https://bordeaux.guix.gnu.org https://ci.guix.gnu.org"
;;;
;;; or per command: guix build hello --substitute-urls="http://127.0.0.1:37516 https://bordeaux.guix.gnu.org"
;;;
;;; storeswarm is not packaged in Guix: `command` below is the installed program (a file-like
;;; object once you package it). Tested for well-formedness only (no Guix System at hand).

(use-modules (gnu)
             (gnu services)
             (gnu services base)
             (gnu services shepherd)
             (gnu system shadow)
             (gnu packages admin)
             (guix gexp)
             (guix records)
             (srfi srfi-1))

(define-record-type* <storeswarm-configuration>
  storeswarm-configuration make-storeswarm-configuration
  storeswarm-configuration?
  (command        storeswarm-configuration-command          ;string or file-like
                  (default "/usr/local/bin/storeswarm"))
  (data-directory storeswarm-configuration-data-directory
                  (default "/var/lib/storeswarm"))
  (guix-listen    storeswarm-configuration-guix-listen      ;what guix-daemon substitutes from
                  (default "127.0.0.1:37516"))
  (nix-listen     storeswarm-configuration-nix-listen       ;the Nix binary cache (/nix/store)
                  (default "127.0.0.1:37515"))
  (p2p-listen     storeswarm-configuration-p2p-listen       ;open this TCP port to share
                  (default "/ip4/0.0.0.0/tcp/4001"))
  (bootstrap      storeswarm-configuration-bootstrap        ;list of multiaddrs
                  (default '()))
  (mdns?          storeswarm-configuration-mdns?            ;find peers on the LAN
                  (default #f))
  (config-file    storeswarm-configuration-config-file      ;#f or a file-like config.toml
                  (default #f))
  (extra-options  storeswarm-configuration-extra-options
                  (default '())))

(define %storeswarm-log-file "/var/log/storeswarm.log")

(define (storeswarm-accounts config)
  (list (user-group (name "storeswarm") (system? #t))
        (user-account
         (name "storeswarm")
         (group "storeswarm")
         (system? #t)
         (comment "storeswarm substitution node")
         (home-directory (storeswarm-configuration-data-directory config))
         (shell (file-append shadow "/sbin/nologin")))))

(define (storeswarm-activation config)
  (with-imported-modules '((guix build utils))
    #~(begin
        (use-modules (guix build utils))
        (let ((user (getpwnam "storeswarm"))
              (dir #$(storeswarm-configuration-data-directory config)))
          (mkdir-p dir)
          (chown dir (passwd:uid user) (passwd:gid user))
          (chmod dir #o750)))))

(define (storeswarm-shepherd-service config)
  (let ((dir (storeswarm-configuration-data-directory config))
        (config-file (storeswarm-configuration-config-file config)))
    (list (shepherd-service
           (provision '(storeswarm))
           (requirement '(networking user-processes))
           (documentation "Run storeswarm, a peer-to-peer substitution node for Nix and Guix.")
           (start #~(make-forkexec-constructor
                     (list #$(storeswarm-configuration-command config) "serve"
                           #$@(if config-file (list "--config" config-file) '())
                           "--data-dir" #$dir
                           "--http" #$(storeswarm-configuration-nix-listen config)
                           "--http-guix" #$(storeswarm-configuration-guix-listen config)
                           "--listen" #$(storeswarm-configuration-p2p-listen config)
                           #$@(append-map (lambda (addr) (list "--bootstrap" addr))
                                          (storeswarm-configuration-bootstrap config))
                           #$@(if (storeswarm-configuration-mdns? config) '("--mdns") '())
                           ;; guix-daemon talks HTTP to the node; no Nix daemon socket needed
                           "--no-daemon"
                           #$@(storeswarm-configuration-extra-options config))
                     #:user "storeswarm"
                     #:group "storeswarm"
                     #:directory #$dir
                     #:environment-variables
                     (list (string-append "HOME=" #$dir)
                           "PATH=/run/current-system/profile/bin")
                     #:log-file #$%storeswarm-log-file))
           ;; serve shuts down cleanly on SIGTERM
           (stop #~(make-kill-destructor))))))

(define storeswarm-service-type
  (service-type
   (name 'storeswarm)
   (extensions
    (list (service-extension shepherd-root-service-type storeswarm-shepherd-service)
          (service-extension account-service-type storeswarm-accounts)
          (service-extension activation-service-type storeswarm-activation)))
   (default-value (storeswarm-configuration))
   (description "Run a storeswarm node: a peer-to-peer substitute server for Guix and Nix.")))

;;; The operating-system part: the node as a service, and guix-daemon substituting from it first
;;; (guix-service-type's substitute-urls) and trusting its key (authorized-keys).
(define* (storeswarm-operating-system os
                                      #:key
                                      (configuration (storeswarm-configuration))
                                      (public-key #f))
  (let ((url (string-append "http://"
                            (storeswarm-configuration-guix-listen configuration))))
    (operating-system
      (inherit os)
      (services
       (cons (service storeswarm-service-type configuration)
             (modify-services (operating-system-user-services os)
               (guix-service-type
                config => (guix-configuration
                           (inherit config)
                           (substitute-urls
                            (cons url (guix-configuration-substitute-urls config)))
                           (authorized-keys
                            (if public-key
                                (cons public-key (guix-configuration-authorized-keys config))
                                (guix-configuration-authorized-keys config)))))))))))
