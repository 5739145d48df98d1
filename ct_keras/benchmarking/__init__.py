"""Speed, memory and compute benchmarks (`tools/benchmark.py`).

One idea per module: `stats` (median and spread of timed runs), `threads` (one thread
count for TensorFlow and PyTorch), `inputs` (images and palettes), `models` (the four
models and their two workloads), `paths` (the list of the ways to run a model, each a
small pluggable function: `keras_paths`, `deploy_paths`; `unavailable` is the exception of
one that cannot run here), `memory` (peak RSS), `machine` (what it ran on),
`worker` (one isolated case per subprocess), `reference` and `reference_run` (the
authors' PyTorch CTN, timed alternately with ours), `compute` (parameters and the
Fig. 5 FLOPs), `training` and `pipeline` (training and input images/s), `accuracy`
(metrics of reduced-precision paths against fp32), `runner` (the whole run), `report`
(tables) and `plot` (the PNG).
"""
