"""ct_keras: CompositeTasking (Popovic et al., CVPR 2021) in TensorFlow / Keras 3."""

from ct_keras.cpu import prefer_onednn as _prefer_onednn

__version__ = "0.1.0"

# Before any TensorFlow import: its oneDNN kernels on AVX2-only CPUs too (`cpu.prefer_onednn`).
_prefer_onednn()
