#!/usr/bin/env bash
# deploy/k8s, checked offline (no cluster runs here): every manifest against the Kubernetes
# OpenAPI schemas plus the wiring between them (validate_manifests.mjs, with npm's
# kubernetes-models installed into build/k8s-validate), every flag the pods pass exists in
# that binary, the job file parses, and the Dockerfile uses Debian 12 and Debian packages
# that exist and provide every shared library the binaries link.
set -euo pipefail
PST_BIN_DIR=${PST_BIN_DIR:?}
PST_SOURCE_DIR=${PST_SOURCE_DIR:?}
k8s="$PST_SOURCE_DIR/deploy/k8s"
fail() { echo "FAIL: $*" >&2; exit 1; }
passed=0

# 1. Schemas and wiring.
node_dir=${PST_K8S_NODE_DIR:-$PST_BIN_DIR/../k8s-validate}
mkdir -p "$node_dir"
cp "$PST_SOURCE_DIR"/tests/k8s/{package.json,package-lock.json,validate_manifests.mjs} "$node_dir/"
if ! cmp -s "$node_dir/package-lock.json" "$node_dir/node_modules/.package-lock.json.installed" 2>/dev/null; then
  (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci of kubernetes-models failed"
  cp "$node_dir/package-lock.json" "$node_dir/node_modules/.package-lock.json.installed"
fi
node "$node_dir/validate_manifests.mjs" "$PST_SOURCE_DIR" || fail "manifests"
passed=$((passed + 1))

# 2. Every --flag in the containers' commands is one the binary has.
for pair in scheduler.yaml:pstrain-scheduler ps.yaml:pstrain-ps workers.yaml:pstrain-worker; do
  file=${pair%%:*} bin=${pair##*:}
  help=$("$PST_BIN_DIR/$bin" --help)
  for flag in $(grep -v '^[[:space:]]*#' "$k8s/$file" | grep -o -- '--[a-z][a-z-]*=' | tr -d = | sort -u); do
    grep -q -- "$flag" <<<"$help" || fail "$file passes $flag, which $bin does not have"
  done
done
passed=$((passed + 1))

# 3. The job file parses (the real loader): the scheduler starts on it.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
timeout 20 "$PST_BIN_DIR/pstrain-scheduler" --job "$k8s/job.toml" --bind 127.0.0.1 --port 0 \
  --advertise 127.0.0.1 --admin-port -1 >"$log" 2>&1 &
sched=$!
for _ in $(seq 100); do grep -q 'listening at' "$log" && break; sleep 0.1; done
kill "$sched" 2>/dev/null || true
wait "$sched" 2>/dev/null || true
grep -q 'waiting for 2 PS and 2 workers' "$log" || fail "job.toml: $(cat "$log")"
passed=$((passed + 1))

# 4. The Dockerfile: Debian 12 only, packages that exist, runtime libraries covered.
df="$k8s/Dockerfile"
froms=$(grep -E '^FROM ' "$df" | awk '{print $2}' | sort -u)
[ "$froms" = "debian:12" ] || fail "Dockerfile: base images '$froms', not debian:12"
# The packages of the Nth `apt-get install` (backslash-continued lines joined).
stage_packages() {
  sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$df" | grep 'apt-get install' | sed -n "${1}p" |
    sed -e 's/.*--no-install-recommends//' -e 's/&&.*//' | tr -s ' ' '\n' | grep -v '^$'
}
build_pkgs=$(stage_packages 1)
runtime_pkgs=$(stage_packages 2)
[ -n "$build_pkgs" ] && [ -n "$runtime_pkgs" ] || fail "Dockerfile: expected a build and a runtime apt-get install"
# (apt-cache is slow on a busy machine: one call for all packages.)
known=$(apt-cache show --no-all-versions $build_pkgs $runtime_pkgs 2>/dev/null | awk '/^Package: / {print $2}')
for p in $build_pkgs $runtime_pkgs; do
  grep -qx -- "$p" <<<"$known" || fail "Dockerfile: no Debian package '$p'"
done
for p in $build_pkgs; do
  grep -qw -- "$p" "$PST_SOURCE_DIR/deploy/bootstrap.sh" || fail "Dockerfile builds with '$p', which bootstrap.sh does not install"
done
closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
  --no-replaces --no-enhances $runtime_pkgs 2>/dev/null | grep -v '^ ' | sed 's/:amd64$//' | sort -u)
copied=$(grep -E '^COPY --from=build' "$df" | tr ' ' '\n' | grep '^/build/bin/' | xargs -n1 basename | sort | tr '\n' ' ')
[ "$copied" = "pstrain pstrain-ps pstrain-scheduler pstrain-worker " ] || fail "Dockerfile copies '$copied'"
# Every library the binaries link directly, and the package that owns it (one dpkg -S).
declare -A lib_of_file=()
for b in $copied; do
  # A sanitizer build (deploy/ci.sh) also links its sanitizer runtimes, which
  # the image's release build does not.
  for lib in $(objdump -p "$PST_BIN_DIR/$b" | awk '/NEEDED/ && $2 !~ /^lib(a|ub|t|l)san\.so/ {print $2}'); do
    file=$(ldd "$PST_BIN_DIR/$b" | awk -v l="$lib" '$1 == l {print $3}')
    [ -n "$file" ] || fail "$b: $lib does not resolve here"
    file=$(readlink -f "$file")
    lib_of_file[$file]="$b: $lib"
  done
done
# "pkg:arch: /path" lines -> path -> pkg (usr-merged libraries are registered under /lib).
declare -A owner=()
while IFS= read -r line; do
  owner[${line#*: }]=${line%%:*}
done < <(for f in "${!lib_of_file[@]}"; do echo "$f"; echo "/lib/${f#/usr/lib/}"; done |
           xargs dpkg -S 2>/dev/null || true)
for f in "${!lib_of_file[@]}"; do
  alt="/lib/${f#/usr/lib/}"
  pkg=${owner[$f]:-${owner[$alt]:-}}
  [ -n "$pkg" ] || fail "${lib_of_file[$f]}: no Debian package owns $f"
  grep -qx -- "$pkg" <<<"$closure" || fail "Dockerfile: ${lib_of_file[$f]} ($pkg) is not installed by the runtime stage"
done
passed=$((passed + 1))
echo "$passed passed, 0 failed"
