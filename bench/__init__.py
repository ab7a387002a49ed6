"""Speed and memory benchmark of GLIGEN Suite against plain SD1.5 and ComfyUI core's GLIGEN nodes.

Started by `bench/run` (see docs/performance.md). Modules:
- `workload`: the random-weight full-size SD1.5, the 30-object layout and the four variants.
- `measure`: timed sampling through ComfyUI's real sampler, peak memory, FLOP counting.
- `flops`: the analytic FLOP formula of the 16 fusers (a cross-check of the measured count).
- `report`: medians, the targets, the table and the RESULT line.
- `gligen_bench`: the command line and the order of the runs.
"""
