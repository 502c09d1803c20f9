#!/usr/bin/env bash
# Installs Spindle on this host: binaries, systemd units, configuration
# templates, the spindle user, directories and certificates.
#
#   deploy/install.sh [--build-dir DIR] [--rm-address HOST:PORT]
#                     [--ca-dir DIR | --certs-dir DIR] [--san NAME]...
#                     [--user NAME] [--dry-run]
#
# DESTDIR=/some/root installs under that root instead of / (then no user is
# created, nothing is chowned and systemd is not told). --dry-run prints what
# would be done and changes nothing. Running it again changes nothing: files
# are compared before they are copied, and existing configuration files and
# certificates are never overwritten. See deploy/README.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build_dir="$here/../target/release"
dry_run=0
rm_address=""
ca_dir=""
certs_dir=""
cert_user="${SUDO_USER:-${USER:-root}}"
sans=()

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
  cat <<'EOF'
Options:
  --build-dir DIR        built binaries (default: target/release of this checkout)
  --rm-address HOST:PORT rm-address written into a new nodemanager.toml and
                         spindle-client.toml (default: localhost:8032)
  --ca-dir DIR           issue this host's certificates from the cluster CA in
                         DIR (ca.pem + ca.key); ca.key is not copied here
  --certs-dir DIR        import certificates already issued for this host from
                         DIR (ca.pem, node.pem/.key, container.pem/.key, and
                         user.pem/.key if present)
                         (neither: a new cluster CA is created on this host)
  --san NAME             extra host name or IP for this host's certificate
                         (repeatable)
  --user NAME            user of the admin certificate a new CA comes with
                         (default: $SUDO_USER or $USER)
  --dry-run              print what would be done; change nothing
EOF
}

while [ $# -gt 0 ]; do
  case $1 in
    --build-dir) build_dir=${2:?--build-dir needs a directory}; shift 2 ;;
    --rm-address) rm_address=${2:?--rm-address needs HOST:PORT}; shift 2 ;;
    --ca-dir) ca_dir=${2:?--ca-dir needs a directory}; shift 2 ;;
    --certs-dir) certs_dir=${2:?--certs-dir needs a directory}; shift 2 ;;
    --san) sans+=("${2:?--san needs a name}"); shift 2 ;;
    --user) cert_user=${2:?--user needs a name}; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ -n "$ca_dir" ] && [ -n "$certs_dir" ]; then
  echo "install.sh: give --ca-dir or --certs-dir, not both" >&2; exit 2
fi

root=${DESTDIR:-}
root=${root%/}
# Real system changes (user, ownership, systemctl) only without DESTDIR.
system=1
[ -n "$root" ] && system=0

changes=0
# act DESCRIPTION COMMAND...: does (or, with --dry-run, prints) one change.
act() {
  local what=$1; shift
  changes=$((changes + 1))
  if [ "$dry_run" = 1 ]; then
    echo "would: $what"
  else
    echo "$what"
    "$@"
  fi
}
skip() { echo "skip: $*"; }

# mode_of PATH: octal mode, e.g. 755.
mode_of() { stat -c %a "$1"; }
owner_of() { stat -c %U:%G "$1"; }

# ensure_dir DIR MODE [OWNER:GROUP]
ensure_dir() {
  local dir=$root$1 mode=$2 owner=${3:-}
  [ "$system" = 1 ] || owner=""
  if [ -d "$dir" ] && [ "$(mode_of "$dir")" = "${mode#0}" ] &&
     { [ -z "$owner" ] || [ "$(owner_of "$dir")" = "$owner" ]; }; then
    return 0
  fi
  if [ -n "$owner" ]; then
    act "directory $dir ($mode $owner)" install -d -m "$mode" -o "${owner%:*}" -g "${owner#*:}" "$dir"
  else
    act "directory $dir ($mode)" install -d -m "$mode" "$dir"
  fi
}

# ensure_parent DIR: creates a system directory (e.g. /usr/bin) when it is
# missing; an existing one is never touched.
ensure_parent() {
  local dir=$root$1
  [ -d "$dir" ] || act "directory $dir (755)" install -d -m 755 "$dir"
}

# replace SRC DEST MODE: atomic copy (a running binary is replaced, not rewritten).
replace() {
  install -m "$3" "$1" "$2.spindle-new" && mv -f "$2.spindle-new" "$2"
}

# ensure_file SRC DEST MODE: copies when missing or different.
ensure_file() {
  local src=$1 dst=$root$2 mode=$3
  if [ -f "$dst" ] && cmp -s "$src" "$dst" && [ "$(mode_of "$dst")" = "${mode#0}" ]; then
    return 0
  fi
  act "install $dst" replace "$src" "$dst" "$mode"
}

# ensure_new SRC DEST MODE [OWNER:GROUP]: copies only when DEST is missing
# (configuration and certificates are the admin's once installed).
ensure_new() {
  local src=$1 dst=$root$2 mode=$3 owner=${4:-}
  [ "$system" = 1 ] || owner=""
  if [ -e "$dst" ]; then
    return 0
  fi
  if [ -n "$owner" ]; then
    act "install $dst ($mode $owner)" install -m "$mode" -o "${owner%:*}" -g "${owner#*:}" "$src" "$dst"
  else
    act "install $dst ($mode)" install -m "$mode" "$src" "$dst"
  fi
}

# ensure_link TARGET LINK
ensure_link() {
  local target=$1 link=$root$2
  if [ -L "$link" ] && [ "$(readlink "$link")" = "$target" ]; then
    return 0
  fi
  act "link $link -> $target" ln -sfn "$target" "$link"
}

# ensure_owner PATH MODE OWNER:GROUP (system installs only)
ensure_owner() {
  local p=$root$1 mode=$2 owner=$3
  [ "$system" = 1 ] || return 0
  [ -e "$p" ] || return 0
  if [ "$(mode_of "$p")" != "${mode#0}" ] || [ "$(owner_of "$p")" != "$owner" ]; then
    act "permissions $p ($mode $owner)" sh -c 'chown "$1" "$3" && chmod "$2" "$3"' _ "$owner" "$mode" "$p"
  fi
}

# ---------------------------------------------------------------- binaries
for b in resourcemanager nodemanager spindle; do
  if [ ! -x "$build_dir/$b" ]; then
    echo "install.sh: $build_dir/$b is missing: build first (cargo build --release --workspace --bins) or pass --build-dir" >&2
    exit 1
  fi
done
spindle_bin="$build_dir/spindle"

# ---------------------------------------------------------------- user
if [ "$system" = 1 ]; then
  if getent passwd spindle >/dev/null; then
    :
  else
    act "create system user spindle" useradd --system --user-group \
      --home-dir /var/lib/spindle --no-create-home --shell /usr/sbin/nologin spindle
  fi
else
  skip "system user spindle and file ownership (DESTDIR is set)"
fi

# ---------------------------------------------------------------- directories
[ -z "$root" ] || ensure_parent /
for d in /usr /usr/bin /usr/lib /usr/share /usr/share/doc /etc /etc/systemd /etc/systemd/system \
         /var /var/lib /var/log; do
  ensure_parent "$d"
done
for d in /usr/lib/spindle /usr/lib/spindle/bin /usr/share/doc/spindle /etc/spindle; do
  ensure_dir "$d" 755
done
ensure_dir /etc/spindle/certs 750 root:spindle
ensure_dir /var/lib/spindle 755
ensure_dir /var/lib/spindle/resourcemanager 750 spindle:spindle
# The NM runs as root (the isolation drop-in below): its directories are
# searchable by the users containers run as, not listable.
ensure_dir /var/lib/spindle/nodemanager 711 root:spindle
ensure_dir /var/log/spindle 711 spindle:spindle
ensure_dir /var/log/spindle/containers 711 root:spindle
# Event logs: drivers (AMs, running as their users) write them here, and the RM
# serves finished apps' history pages and `spindle compare` reads them from here
# (world-writable with the sticky bit, as Spark's spark.eventLog.dir on HDFS; on
# several hosts, mount one shared directory here).
ensure_dir /var/log/spindle/history 1777 spindle:spindle

# ---------------------------------------------------------------- binaries
# Real files in /usr/lib/spindle/bin keep their build names (the CLI finds
# the daemons beside itself); /usr/bin gets spindle-* links.
declare -A links=(
  [resourcemanager]=spindle-resourcemanager
  [nodemanager]=spindle-nodemanager
  [spindle]=spindle
  [spindle-submit]=spindle-submit
  [appmaster]=spindle-appmaster
  [shuffle-service]=spindle-shuffle-service
)
for b in resourcemanager nodemanager spindle spindle-submit appmaster shuffle-service; do
  if [ -x "$build_dir/$b" ]; then
    ensure_file "$build_dir/$b" "/usr/lib/spindle/bin/$b" 755
    ensure_link "../lib/spindle/bin/$b" "/usr/bin/${links[$b]}"
  else
    skip "$b (not in $build_dir)"
  fi
done

# ---------------------------------------------------------------- units, docs
units_changed=$changes
for u in "$here"/systemd/*.service "$here"/systemd/*.target; do
  ensure_file "$u" "/etc/systemd/system/$(basename "$u")" 644
done
ensure_dir /etc/systemd/system/spindle-nodemanager.service.d 755
ensure_file "$here/systemd/spindle-nodemanager.service.d/isolation.conf" \
  /etc/systemd/system/spindle-nodemanager.service.d/isolation.conf 644
units_changed=$((changes - units_changed))
ensure_file "$here/README.md" /usr/share/doc/spindle/README.md 644
# The kernel's socket-buffer limits that bulk transfers need (see the file).
ensure_parent /etc/sysctl.d
sysctl_changed=$changes
ensure_file "$here/sysctl/90-spindle.conf" /etc/sysctl.d/90-spindle.conf 644
sysctl_changed=$((changes - sysctl_changed))

# ---------------------------------------------------------------- configuration
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ensure_new "$here/conf/shuffle-service.toml" /etc/spindle/shuffle-service.toml 644
# The RM serves finished applications' history pages from the event-log directory.
sed -e 's|^# history-dir = ""|history-dir = "/var/log/spindle/history"|' \
  "$here/conf/resourcemanager.toml" >"$tmp/resourcemanager.toml"
ensure_new "$tmp/resourcemanager.toml" /etc/spindle/resourcemanager.toml 644
# Work-preserving NM restart is on in an installed node manager (the unit's
# KillMode=process leaves the containers running across a restart).
if [ -n "$rm_address" ]; then
  sed -e "s|^# rm-address = .*|rm-address = \"$rm_address\"|" -e "s|^# recovery = false|recovery = true|" \
    "$here/conf/nodemanager.toml" >"$tmp/nodemanager.toml"
else
  sed -e "s|^# recovery = false|recovery = true|" "$here/conf/nodemanager.toml" >"$tmp/nodemanager.toml"
fi
ensure_new "$tmp/nodemanager.toml" /etc/spindle/nodemanager.toml 644
rm_host=${rm_address:-localhost:8032}
rm_host=${rm_host%:*}
cat >"$tmp/spindle-client.toml" <<EOF
# The spindle CLI's and spindle-submit's view of the cluster:
#   export SPINDLE_CONF_DIR=/etc/spindle
# Relative paths are relative to this directory.
rm-address = "${rm_address:-localhost:8032}"
# The RM's web server, host:port (its web-address; HTTPS), for links and REST.
rm-web-address = "$rm_host:8088"
ca = "certs/ca.pem"
cert = "certs/user.pem"
key = "certs/user.key"
# Client-mode drivers (the Python API's master("spindle")) serve their launcher
# and executors with a container certificate; uncomment on hosts whose users
# may read it.
# driver-cert = "certs/container.pem"
# driver-key = "certs/container.key"
EOF
ensure_new "$tmp/spindle-client.toml" /etc/spindle/spindle-client.toml 644
# Spark-style defaults for every spindle-submit on this host: event logs where the
# RM's history-dir is, so finished applications have history pages.
cat >"$tmp/spindle-defaults.conf" <<EOF
# Spark properties for applications submitted from this host (spark-defaults.conf);
# spindle-submit's --conf and --properties-file override them.
spark.master spindle
spark.eventLog.enabled true
spark.eventLog.dir /var/log/spindle/history
EOF
ensure_new "$tmp/spindle-defaults.conf" /etc/spindle/spindle-defaults.conf 644

# ---------------------------------------------------------------- certificates
certs=$root/etc/spindle/certs
host_sans=(localhost 127.0.0.1 ::1)
short=$(hostname 2>/dev/null || true)
fqdn=$(timeout 5 hostname -f 2>/dev/null || true)
for n in "$short" "$fqdn" "${sans[@]}"; do
  [ -n "$n" ] || continue
  case " ${host_sans[*]} " in *" $n "*) ;; *) host_sans+=("$n") ;; esac
done
san_args=()
for n in "${host_sans[@]}"; do san_args+=(--san "$n"); done
# The node id this host's NM registers as (its `hostname` key, port 8041): the node
# certificate names it, and the RM lets that certificate speak only as that node.
node_id="${fqdn:-${short:-localhost}}:8041"

if [ -f "$certs/ca.pem" ] && { [ -f "$certs/node.pem" ] || [ -f "$certs/rm.pem" ]; }; then
  : # present: kept as they are
elif [ -n "$certs_dir" ]; then
  for f in ca.pem node.pem container.pem user.pem rm.pem; do
    if [ -f "$certs_dir/$f" ]; then ensure_new "$certs_dir/$f" "/etc/spindle/certs/$f" 644
    elif [ "$f" != user.pem ] && [ "$f" != rm.pem ]; then echo "install.sh: $certs_dir/$f is missing" >&2; exit 1; fi
  done
  [ -f "$certs_dir/rm.key" ] && ensure_new "$certs_dir/rm.key" /etc/spindle/certs/rm.key 600 spindle:spindle
  for f in node.key container.key; do
    ensure_new "$certs_dir/$f" "/etc/spindle/certs/$f" 600 spindle:spindle
  done
  [ -f "$certs_dir/user.key" ] && ensure_new "$certs_dir/user.key" /etc/spindle/certs/user.key 600
elif [ -n "$ca_dir" ]; then
  for f in ca.pem ca.key; do
    [ -f "$ca_dir/$f" ] || { echo "install.sh: $ca_dir/$f is missing" >&2; exit 1; }
  done
  if [ "$dry_run" = 1 ]; then
    act "issue node and container certificates for ${host_sans[*]} from the CA in $ca_dir into $certs" true
  else
    (umask 077; mkdir -p "$tmp/ca"; cp "$ca_dir/ca.pem" "$ca_dir/ca.key" "$tmp/ca/")
    "$spindle_bin" certs issue --dir "$tmp/ca" --name node --common-name "node:$node_id" "${san_args[@]}" >/dev/null
    "$spindle_bin" certs issue --dir "$tmp/ca" --name container --common-name container "${san_args[@]}" >/dev/null
    for f in ca.pem node.pem container.pem; do ensure_new "$tmp/ca/$f" "/etc/spindle/certs/$f" 644; done
    for f in node.key container.key; do ensure_new "$tmp/ca/$f" "/etc/spindle/certs/$f" 600 spindle:spindle; done
  fi
else
  act "create the cluster CA and this host's certificates (${host_sans[*]}) in $certs" \
    "$spindle_bin" certs init --dir "$certs" --user "$cert_user" --node "$node_id" "${san_args[@]}"
fi
# Keys are readable by their daemon only: the node and container keys by the
# daemons' user (spindle; an NM running as root reads them too), never by a
# group. Containers run as their users, not as spindle (see deploy/README.md,
# "Container isolation"). The CA key and the admin's user key stay root's.
ensure_owner /etc/spindle/certs/node.key 600 spindle:spindle
ensure_owner /etc/spindle/certs/container.key 600 spindle:spindle
[ -e "$root/etc/spindle/certs/rm.key" ] && ensure_owner /etc/spindle/certs/rm.key 600 spindle:spindle

# ---------------------------------------------------------------- kernel
if [ "$system" = 1 ] && [ "$sysctl_changed" -gt 0 ] && command -v sysctl >/dev/null; then
  act "sysctl -p /etc/sysctl.d/90-spindle.conf" sysctl -q -p /etc/sysctl.d/90-spindle.conf
fi

# ---------------------------------------------------------------- systemd
if [ "$system" = 1 ] && [ "$units_changed" -gt 0 ] && [ -d /run/systemd/system ]; then
  act "systemctl daemon-reload" systemctl daemon-reload
fi

if [ "$changes" = 0 ]; then
  echo "nothing to do: everything is installed"
elif [ "$dry_run" = 1 ]; then
  echo "$changes change(s) would be made (dry run: nothing changed)"
else
  echo "$changes change(s) made"
  if [ "$system" = 1 ]; then
    cat <<EOF
next:
  RM host:  systemctl enable --now spindle-resourcemanager spindle.target
  NM hosts: systemctl enable --now spindle-nodemanager spindle.target
  check:    SPINDLE_CONF_DIR=/etc/spindle spindle node list
  submit:   SPINDLE_CONF_DIR=/etc/spindle spindle-submit --class SparkPi /usr/lib/spindle/bin/appmaster 10
EOF
  fi
fi
