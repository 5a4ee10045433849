#!/bin/bash
# simul2.sh OUT X-ROOT X-LABEL Y-ROOT Y-LABEL ROUND PARTS...: X and Y at the same time (ports 27700 / 27750, swapped on odd ROUND)
OUT=$1; X=$2; XL=$3; Y=$4; YL=$5; R=$6; shift 6
S=/work/wt/rounds/examples/bench/cpu-per-op.py
if (( R % 2 == 0 )); then PA=27700; PB=27750; else PA=27750; PB=27700; fi
for p in "$@"; do
  QKV_PARTITIONS=$p $S $X --label $XL-p$p-sim$R --phases put --warmup ${WARMUP:-15} --duration 10 --port $PA --out $OUT.X &
  a=$!
  QKV_PARTITIONS=$p $S $Y --label $YL-p$p-sim$R --phases put --warmup ${WARMUP:-15} --duration 10 --port $PB --out $OUT.Y &
  b=$!
  wait $a $b
  cat $OUT.X $OUT.Y >> $OUT; rm -f $OUT.X $OUT.Y
done
