"""ct_keras: CompositeTasking (Popovic et al., CVPR 2021) in TensorFlow / Keras 3."""

__version__ = "0.1.0"
