#!/usr/bin/env bash
# Build the test control plane (kube-apiserver, kube-controller-manager, etcd) from the
# Go module proxy into a cache directory keyed by the pinned versions, only when missing.
#
# The versions come from the wrapper modules beside this script (testbin/kube/go.mod and
# testbin/etcd/go.mod), so bumping a go.mod changes the cache key and forces a rebuild.
# The cache lives outside the repository (default ~/.cache/tiphys/testbin) so that a
# fresh clone on the same machine finds binaries built by an earlier one.
#
# Usage: testbin/build.sh [--print-dir]
#   --print-dir   print only the cache directory (building first if needed) on stdout
# Environment:
#   TIPHYS_TESTBIN_CACHE   cache root (default: $HOME/.cache/tiphys/testbin)
#   TIPHYS_TESTBIN_JOBS    parallel Go compile jobs (default: 2; the machines are shared)
#
# Safe to run concurrently: a flock on <cache>/<key>.lock serialises builders, and each
# binary is written to a temporary name and renamed into place, so a reader never sees
# a half-written file.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
print_dir_only=0
if [[ "${1:-}" == "--print-dir" ]]; then print_dir_only=1; fi

log() { echo "testbin: $*" >&2; }

# The version a wrapper go.mod requires for one module, e.g. "v1.36.3".
required_version() { # <go.mod> <module path>
    local v
    v="$(awk -v m="$2" '$1 == m && $2 ~ /^v/ {print $2; exit} $1 == "require" && $2 == m {print $3; exit}' "$1")"
    if [[ -z "$v" ]]; then
        log "error: $1 does not require $2"
        exit 2
    fi
    echo "$v"
}

kube_version="$(required_version "$here/kube/go.mod" k8s.io/kubernetes)"
etcd_version="$(required_version "$here/etcd/go.mod" go.etcd.io/etcd/server/v3)"
key="k8s-${kube_version}+etcd-${etcd_version}"
root="${TIPHYS_TESTBIN_CACHE:-$HOME/.cache/tiphys/testbin}"
dir="$root/$key"
binaries=(kube-apiserver kube-controller-manager etcd)

all_present() {
    local b
    for b in "${binaries[@]}"; do [[ -x "$dir/$b" ]] || return 1; done
}

finish() {
    if (( print_dir_only )); then echo "$dir"; else
        log "binaries in $dir"
        ls -l "${binaries[@]/#/$dir/}" >&2
    fi
}

if all_present; then finish; exit 0; fi

mkdir -p "$dir"
exec 9>"$root/$key.lock"
log "waiting for the build lock $root/$key.lock"
flock 9
# Another builder may have finished while we waited.
if all_present; then finish; exit 0; fi

# Exit status 3 means "cannot build here" (the pytest fixture skips on it); others fail.
command -v go >/dev/null || { log "error: no 'go' on PATH (Go >= 1.26 is needed)"; exit 3; }
export CGO_ENABLED=0
# Keep the go.mod's own toolchain requirement from triggering a toolchain download
# mid-build; a too-old Go fails clearly instead.
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
export GOFLAGS="${GOFLAGS:-} -mod=readonly -p=${TIPHYS_TESTBIN_JOBS:-2}"

build() { # <wrapper dir> <output name> <ldflags> <package>
    local out="$dir/$2" tmp="$dir/.$2.tmp.$$" t0=$SECONDS
    if [[ -x "$out" ]]; then return; fi
    log "building $2 from $4 (this takes minutes on a cold cache)"
    (cd "$here/$1" && nice -n 10 go build -trimpath -ldflags "$3" -o "$tmp" "$4")
    mv -f "$tmp" "$out"
    log "built $2 in $((SECONDS - t0)) s, $(du -m "$out" | cut -f1) MiB"
}

# Upstream's hack/lib/golang.sh stamps both version packages; without it /version says
# v0.0.0-master+$Format:%H$ and client skew checks complain.
minor="${kube_version#v1.}"; minor="${minor%%.*}"
kube_ldflags="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    kube_ldflags+=" -X $p.gitVersion=$kube_version -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    kube_ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done
etcd_ldflags="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$etcd_version"

trap 'rm -f "$dir"/.*.tmp.$$' EXIT
build etcd etcd "$etcd_ldflags" go.etcd.io/etcd/server/v3
build kube kube-apiserver "$kube_ldflags" k8s.io/kubernetes/cmd/kube-apiserver
build kube kube-controller-manager "$kube_ldflags" k8s.io/kubernetes/cmd/kube-controller-manager
finish
