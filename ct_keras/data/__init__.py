"""PASCAL-MT input pipeline: readers for both packagings, TFRecords, palettes, augmentation.

Depends on `ct_keras.tasks` only; knows nothing of the models.
"""

from ct_keras.data.dataset import make_dataset, num_examples
from ct_keras.data.errors import BadSampleError
from ct_keras.data.palettes import RULES, task_palette
from ct_keras.data.layout import detect_layout, open_pascal_mt
from ct_keras.data.synthetic import generate_pascal_mt
from ct_keras.data.tfrecords import build_tfrecords
