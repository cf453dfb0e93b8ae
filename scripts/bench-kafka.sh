#!/usr/bin/env bash
# Kafka -> WASM map -> Kafka, at parallelism 1 and 2, beside the broker's own
# produce and fetch rates measured in the same run: a generator writing the
# input topic (produce: no guest), a source draining it into `discard`
# (fetch: no guest), then the pipeline. Each line: records/s (wall clock of
# the whole `eddy run`, start-up included) and records per CPU-second (user +
# system time of the eddy process, from /usr/bin/time). The broker is nisshi
# (scripts/setup-broker.sh), in memory, on this machine: it shares the cores.
#
#   bash scripts/bench-kafka.sh [RECORDS]      (default 2,000,000; needs
#   target/release/eddy built with --features kafka, and the guests built)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
records=${1:-2000000}
target=${CARGO_TARGET_DIR:-$repo/target}
eddy="$target/release/eddy"
[[ -x $eddy ]] || { echo "bench-kafka: build eddy first: cargo build --release --features kafka" >&2; exit 1; }
nisshi=$(bash "$repo/scripts/setup-broker.sh")
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
bootstrap="127.0.0.1:$port"
"$nisshi" broker --listener-url "tcp://$bootstrap" --advertised-listener-url "tcp://$bootstrap" \
    --storage-engine memory://nisshi/ >/dev/null 2>&1 &
broker=$!
trap 'kill $broker 2>/dev/null; rm -rf "$work"' EXIT
sleep 1
for topic in in out; do
    "$eddy" kafka create-topic "$topic" --partitions 4 --bootstrap-servers "$bootstrap" 2>/dev/null
done

# run NAME JOB_TEXT: run a job file, print its line of the table.
run() {
    local name=$1 text=$2
    printf '%s\n' "$text" > "$work/job.toml"
    /usr/bin/time -f '%e %U %S' -o "$work/time" "$eddy" run --quiet "$work/job.toml" >/dev/null
    read -r elapsed user system < "$work/time"
    awk -v n="$records" -v e="$elapsed" -v u="$user" -v s="$system" -v name="$name" \
        'BEGIN { printf "| %-44s | %10.0f | %12.0f | %6.2f |\n", name, n / e, n / (u + s), u + s }'
}

source_block="[[source]]
name = \"in\"
type = \"kafka\"
format = \"raw\"
[source.kafka]
bootstrap_servers = \"$bootstrap\"
topics = [\"in\"]
stop = \"latest\""

echo "Kafka pipeline, $records records of 64-byte binary events, broker nisshi on this machine"
echo
echo "| run | records/s | records per CPU-s | CPU s |"
echo "|---|---|---|---|"
run "produce: generator -> Kafka (no guest)" "[job]
name = \"produce\"
[[source]]
name = \"gen\"
type = \"generator\"
format = \"binary-event\"
[source.generator]
count = $records
value_size = 40
[[sink]]
name = \"in\"
type = \"kafka\"
input = \"gen\"
[sink.kafka]
bootstrap_servers = \"$bootstrap\"
topic = \"in\""
run "fetch: Kafka -> discard (no guest)" "[job]
name = \"fetch\"
$source_block
[[sink]]
name = \"nowhere\"
type = \"discard\"
input = \"in\""
for p in 1 2; do
    run "Kafka -> WASM map -> Kafka, parallelism $p" "[job]
name = \"pipeline\"
parallelism = $p
$source_block
[[operator]]
uid = \"map\"
kind = \"map\"
module = \"$repo/examples-wasm/wasm/bench_map.wasm\"
input = \"in\"
[[sink]]
name = \"out\"
type = \"kafka\"
input = \"map\"
[sink.kafka]
bootstrap_servers = \"$bootstrap\"
topic = \"out\""
done
