#!/usr/bin/env bash
# Debian packages the test suite drives for real: headless Chromium for the report test, and a
# one-node SLURM cluster (with accounting, so that sacct works as on real clusters).
# Installs only what is missing; needs root and apt-get, else says what it could not install.
set -uo pipefail
pkgs=(chromium chromium-driver slurmctld slurmd slurm-client munge slurmdbd mariadb-server)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "NOTE: not root or no apt-get; missing Debian packages: ${missing[*]} (their tests will fail)" >&2
    exit 0
fi
echo "==> installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# Keep package scripts from starting daemons: the tests start and stop their own.
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
rc=$?
rm -f /usr/sbin/policy-rc.d
exit $rc
