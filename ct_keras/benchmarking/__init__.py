"""Speed, memory and compute benchmarks (`tools/benchmark.py`).

One idea per module: `stats` (median and spread of timed runs), `threads` (one thread
count for TensorFlow and PyTorch), `inputs` (images and palettes), `paths` (the ways to
run a model, each a small pluggable function), `memory` (peak RSS), `worker` (one
isolated case per subprocess), `reference` (the authors' PyTorch CTN), `compute`
(parameters and the Fig. 5 FLOPs), `training` and `pipeline` (training and input
images/s), `runner` (the whole run), `report` (tables) and `plot` (the PNG).
"""
