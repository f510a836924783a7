# shellcheck shell=bash
# Sourced by tools/deps.sh and tools/deps-packaging.sh.
# deps_install TAG PACKAGE...: installs the Debian packages among PACKAGE that
# are not installed yet, through apt-get as root or through sudo for other
# users; TAG prefixes its messages. Nothing to do when all are installed.
deps_install() {
    local tag=$1 pkg sudo=
    local need=()
    shift
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
    done
    [ ${#need[@]} -eq 0 ] && return 0
    echo "$tag: installing ${need[*]}" >&2
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "$tag: need root or sudo to install: ${need[*]}" >&2; return 1; }
        sudo=sudo
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}
