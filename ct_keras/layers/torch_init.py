"""PyTorch's default initialisation of Conv2d / Linear, so training starts as the reference's."""

import math

import keras


def torch_kernel_initializer():
    # kaiming_uniform(a=√5) is U(±1/√fan_in).
    return keras.initializers.VarianceScaling(1.0 / 3.0, mode="fan_in", distribution="uniform")


def torch_bias_initializer(fan_in):
    bound = 1.0 / math.sqrt(fan_in)
    return keras.initializers.RandomUniform(-bound, bound)
