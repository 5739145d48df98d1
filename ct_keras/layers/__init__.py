"""Building blocks of the CompositeTasking network (paper §3, Figs. 3 and 4)."""

from ct_keras.layers.bilinear_upsampling import BilinearUpsampling2D
from ct_keras.layers.image_normalization import ImageNormalization
from ct_keras.layers.leaky_relu import LeakyReLU, leaky_relu
from ct_keras.layers.palette_select import PaletteSelect
from ct_keras.layers.plain_block import PlainBlock
from ct_keras.layers.task_composition import TaskComposition
from ct_keras.layers.task_representation import TaskRepresentation
