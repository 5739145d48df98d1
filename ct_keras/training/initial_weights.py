"""Where a run's weights start: Keras' initialisers, an ImageNet encoder (`--encoder_weights`),
a whole earlier run (`--init_weights`), or the encoder of another trained run, taken frozen
(`--shared_encoder`: the palette network on the CTN's encoder, paper §6.2, so that the two
can share one encoder pass)."""

import os

from ct_keras.models.model_dir import checkpoint_path, load_model_dir


def initialise(net, config):
    """Loads into `net` what `config` asks for (before the optimizer is built)."""
    if config.encoder_weights:
        from ct_keras.models.torch_import import load_torch_state_dict, read_state_dict

        load_torch_state_dict(net.encoder, read_state_dict(config.encoder_weights))
    if config.init_weights:
        load_init_weights(net, config.init_weights)
    if config.shared_encoder:
        share_encoder(net, config.shared_encoder)


def load_init_weights(net, path):
    """`path`: a `.weights.h5` of the same model, or a run folder (its best checkpoint)."""
    if os.path.isdir(path):
        path = checkpoint_path(path, "best")
    try:
        net.load_weights(path)
    except (ValueError, OSError) as e:
        raise ValueError(f"--init_weights: {path} does not fit this --model/--backbone/"
                         f"--model_options ({str(e).splitlines()[0]})") from None


def share_encoder(net, model_dir):
    """Copies the encoder of the run in `model_dir` (its best checkpoint) into `net` and
    freezes it: its weights and batch-norm statistics stay those of that run, so that one
    encoder pass can serve both networks."""
    source = load_model_dir(model_dir, "best").encoder
    theirs = [tuple(w.shape) for w in source.weights]
    ours = [tuple(w.shape) for w in net.encoder.weights]
    if theirs != ours:
        raise ValueError(f"--shared_encoder: the encoder of {model_dir} does not fit this --backbone "
                         f"(its {len(theirs)} weights have other shapes than this one's {len(ours)})")
    net.encoder.set_weights(source.get_weights())
    net.encoder.trainable = False  # BatchNorm then runs on the source's statistics too
