#!/usr/bin/env bash
# Error against steps on the shipped learned models (docs/EVIDENCE.md, section 10); run from the repository root
# after `dotnet build tools/cldiff -c Release`.
C="dotnet tools/cldiff/bin/Release/net10.0/cldiff.dll"
for m in checkerboard optdigits; do
  for s in ei rm rm-pc heun dpmpp-2m; do
    for k in 10 20 40; do
      n=2000; [ $m = optdigits ] && n=500
      out=$($C check --model $m --sampler $s --steps $k --n $n --denoise --device cpu 2>&1 | tr '\n' ' ')
      echo "$m | $s | $k | $out"
    done
  done
done
