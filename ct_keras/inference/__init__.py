"""CompositeTasking on your own images (paper §6.2–6.3): any model, any image, any palette.

    predictors      load_predictor: a training run, a SavedModel export or a .tflite file
    outputs         outputs_at_size: decoded, back at the image's own size
    figure          the paper's figures with a legend (prediction, before/after editing)
    predict_files   predict_files: images → DIR/<stem>.png and DIR/<stem>.npz
    palette_model   PalettePredictor: a trained palette network for `--palette=predicted`
"""

from ct_keras.inference.figure import editing_figure, prediction_figure
from ct_keras.inference.outputs import outputs_at_size
from ct_keras.inference.predict_files import predict_files
from ct_keras.inference.predictors import load_predictor
