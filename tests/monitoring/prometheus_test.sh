#!/usr/bin/env bash
# A real Prometheus (Debian's) scrapes a running pstrain job with the shipped scrape
# configuration (deploy/monitoring/prometheus.yml, its target pointed at the job's admin
# endpoint on loopback). Checks through Prometheus's HTTP API that the target is up, that
# pstrain series arrive with their values, and that every query of the shipped Grafana
# dashboard parses and names only metrics Prometheus has scraped.
source "$(dirname "$0")/../multihost/lib.sh"
mh_init_work
mon="$PST_SOURCE_DIR/deploy/monitoring"

promtool check config "$mon/prometheus.yml" >/dev/null || mh_fail "promtool rejects prometheus.yml"
jq -e '.panels | length > 10' "$mon/grafana-dashboard.json" >/dev/null || mh_fail "the dashboard is not JSON with panels"

# A job that trains for several seconds (20 ms per step on top of the compute).
mh_job "$MH_WORK/job.toml"
sed -i 's/^epochs = 1/epochs = 2/' "$MH_WORK/job.toml"
"$PST_BIN_DIR/pstrain" launch --job "$MH_WORK/job.toml" --run-dir "$MH_WORK/run" --progress lines \
  --step-delay-ms 20 >"$MH_WORK/launch.log" 2>&1 &
launch=$!
MH_EXTRA_CLEANUP+=("kill $launch 2>/dev/null")
mh_wait_file "$MH_WORK/run/scheduler.endpoint.admin" 60 || mh_fail "the job's admin endpoint never came up"
admin=$(sed -e 's#^http://##' -e 's#/.*##' "$MH_WORK/run/scheduler.endpoint.admin")

# The shipped configuration with its target replaced and a 1 s scrape interval.
sed -e "s#scheduler.example.org:8080#$admin#" -e 's/scrape_interval: 5s/scrape_interval: 1s/' \
  -e 's/scrape_timeout: 4s/scrape_timeout: 1s/' "$mon/prometheus.yml" >"$MH_WORK/prometheus.yml"
grep -q "$admin" "$MH_WORK/prometheus.yml" || mh_fail "the shipped config has no target to point at the job"
prometheus --config.file="$MH_WORK/prometheus.yml" --web.listen-address=127.0.0.1:0 \
  --storage.tsdb.path="$MH_WORK/tsdb" >"$MH_WORK/prometheus.log" 2>&1 &
prom=$!
MH_EXTRA_CLEANUP+=("kill $prom 2>/dev/null; wait $prom 2>/dev/null")
port=""
for _ in $(seq 300); do
  port=$(grep -o 'msg="Listening on" address=127.0.0.1:[0-9]*' "$MH_WORK/prometheus.log" | sed 's/.*://' || true)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || mh_fail "Prometheus never listened"
api="http://127.0.0.1:$port/api/v1"

# query EXPR: the result vector of an instant query (fails the test if it does not parse).
query() {
  local out
  out=$(curl -s --max-time 5 --get --data-urlencode "query=$1" "$api/query")
  [ "$(echo "$out" | jq -r .status)" = success ] || mh_fail "Prometheus rejects '$1': $out"
  echo "$out" | jq -c '.data.result'
}

# Scrapes land while the job trains: the target is up and samples grow.
samples=0
for _ in $(seq 300); do
  samples=$(query 'max(pstrain_samples_total{job="pstrain",pstrain_job="fashion-mnist"})' | jq -r '.[0].value[1] // 0')
  awk -v s="$samples" 'BEGIN { exit !(s > 0) }' && break
  sleep 0.2
done
awk -v s="$samples" 'BEGIN { exit !(s > 0) }' || mh_fail "no pstrain_samples_total > 0 in Prometheus"
[ "$(query 'up{job="pstrain"}' | jq -r '.[0].value[1]')" = 1 ] || mh_fail "the pstrain target is not up"
workers=$(query 'count(pstrain_node_up{role="worker"})' | jq -r '.[0].value[1]')
[ "$workers" = 2 ] || mh_fail "Prometheus has $workers workers' pstrain_node_up, not 2"
mh_log "Prometheus on :$port scraped $admin: pstrain_samples_total $samples"

# Epoch 1's accuracy is published while epoch 2 trains (several seconds at 20 ms a step).
acc=""
for _ in $(seq 300); do
  acc=$(query 'max(pstrain_epoch_test_accuracy{epoch="1"})' | jq -r '.[0].value[1] // empty')
  [ -n "$acc" ] && break
  sleep 0.2
done
[ -n "$acc" ] || mh_fail "no test accuracy of epoch 1 in Prometheus"
rc=0
mh_wait_pid "$launch" 120 || rc=$?
[ $rc -eq 0 ] || mh_fail "the job exited with $rc"
grep -q "epoch 1/2 .* test accuracy $(printf '%.4f' "$acc")" "$MH_WORK/launch.log" ||
  mh_fail "Prometheus's epoch 1 accuracy $acc is not the job's: $(grep 'epoch 1/2' "$MH_WORK/launch.log")"

# Every dashboard query parses, and every metric it names was scraped.
names=$(curl -s "$api/label/__name__/values" | jq -r '.data[]')
checked=0
while IFS= read -r expr; do
  query "${expr//\$job/.*}" >/dev/null
  # Metric names, not the pstrain_job label.
  for m in $(echo "$expr" | sed 's/pstrain_job=~*"[^"]*"//g' | grep -o 'pstrain_[a-z_]*' | sort -u); do
    echo "$names" | grep -qx "$m" || mh_fail "the dashboard queries $m, which Prometheus never scraped"
  done
  checked=$((checked + 1))
done < <(jq -r '.panels[].targets[].expr' "$mon/grafana-dashboard.json")
mh_log "all $checked dashboard queries parse; Prometheus saw accuracy $acc"
echo "1 passed, 0 failed"
