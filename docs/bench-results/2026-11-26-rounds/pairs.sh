#!/bin/bash
# pairs.sh OUT B-ROOT B-LABEL PARTS...: A (/tmp/rounds-A) and B back to back per partition count, order alternating
OUT=$1; B=$2; BL=$3; shift 3
S=/work/wt/rounds/examples/bench/cpu-per-op.py
i=0
for p in "$@"; do
  if (( i % 2 == 0 )); then order="A B"; else order="B A"; fi
  for x in $order; do
    if [[ $x == A ]]; then root=/tmp/rounds-A; label=A-p$p; else root=$B; label=$BL-p$p; fi
    QKV_PARTITIONS=$p $S $root --label $label --phases put --warmup 15 --duration 10 --port 27700 --out $OUT
  done
  i=$((i+1))
done
