"""A training run's settings: `TrainConfig`, each setting's one default and help text
(`tools/train.py` makes its flags from them), and the check of every value before any work.

Light on purpose: nothing here imports TensorFlow until `check` runs."""

import dataclasses
import os

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16", "auto")


def _setting(default, help, factory=None):
    """A field with its flag's help text (`tools/train.py` reads `metadata["help"]`)."""
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata={"help": help})
    return dataclasses.field(default=default, metadata={"help": help})


@dataclasses.dataclass
class TrainConfig:
    """Everything a run needs; `tools/train.py` fills it from flags of the same names."""

    model_dir: str = _setting(None, "Where checkpoints, logs and metrics go (resumes if it has a backup).")
    data_dir: str = _setting(None, "PASCAL-MT: a raw folder (either packaging) or ct_keras TFRecords.")
    synthetic: str = _setting("", "'TRAIN,VAL': generate a synthetic PASCAL-MT of that many images at "
                              "--data_dir if it does not exist.")
    synthetic_variant: str = _setting("voc", "What --synthetic scenes hold: voc (all 20 classes) or easy "
                                      "(5 classes, larger objects: the demo's).")
    model: str = _setting("ctn", "ctn|stn|mhn|mn|palette: the CompositeTasking net, a baseline, or the "
                          "palette network (image → Task Palette of --rule=r2/r3, paper §6.2).")
    task: str = _setting("", "Task of --model=stn, or the one task of --rule=s (default: drawn per image).")
    backbone: str = _setting("resnet34", "resnet18|34|50|101.")
    image_size: int = _setting(256, "Training/evaluation size (a multiple of 32).")
    model_options: dict = _setting(None, "Ablation knobs as key=value, e.g. embedding_dim=64,mlp_depth=3.",
                                   factory=dict)
    anchors: object = _setting("paper", "Class anchors: paper (supplementary Tables 5, 6); a JSON file "
                               "{\"semseg\": {class: [r, g, b]}, \"parts\": {...}}; or the reference's colour "
                               "maps colourmap_seg21.txt,colourmap_parts7.txt. Recorded in model.json.")
    rule: str = _setting("", "Task Palette rule of the training labels: s|r1r|rrnd|r2|r3, or several joined "
                         "by + (each example draws one: rrnd+s) (default s for --model=stn, r2 for "
                         "--model=palette, r1r for the others).")
    batch_size: int = _setting(10, "Global batch size, split evenly over the replicas (GPUs, workers).")
    epochs: int = _setting(100, "Epochs.")
    steps_per_epoch: int = _setting(0, "Steps per epoch; 0 = one pass over the training split.")
    validation_steps: int = _setting(0, "Validation batches; 0 = the whole split.")
    augment: bool = _setting(True, "Training augmentation (flip, scale, crop, photometric).")
    seed: int = _setting(0, "Seed of data order, augmentation, palettes and initial weights.")
    decoder_lr: float = _setting(1e-3, "Learning rate of the decoder and the task MLP.")
    encoder_lr: float = _setting(1e-5, "Learning rate of the encoder.")
    weight_decay: float = _setting(1e-5, "Coupled L2 (as torch.optim.Adam's weight_decay).")
    clip_grad_norm: float = _setting(0.0, "Scale the gradient down where its global norm (every weight, "
                                     "summed over replicas) exceeds this; 0 = off, as in the paper.")
    schedule: str = _setting("multistep", "multistep|plateau|constant|cosine (warm-up, then cosine to 0).")
    warmup_steps: int = _setting(0, "Linear warm-up steps of --schedule=cosine.")
    milestones: tuple = _setting((60, 80, 94), "Epochs where multistep multiplies the rate by --lr_factor.")
    lr_factor: float = _setting(0.3, "Learning-rate factor of both schedules.")
    plateau_patience: int = _setting(12, "Epochs without val_loss improvement before --schedule=plateau acts.")
    loss_weights: dict = _setting(None, "Overrides of the paper's task weights, e.g. edges=50,normals=4.",
                                  factory=dict)
    focal_gamma: float = _setting(2.0, "γ of the semseg/parts focal loss.")
    normals_loss: str = _setting("cosine", "cosine|l1.")
    precision: str = _setting("float32", "float32|mixed_float16|mixed_bfloat16|auto (mixed_bfloat16 on a "
                              "CPU with native bfloat16, AVX512_BF16 or AMX; float32 elsewhere).")
    jit_compile: bool = _setting(False, "XLA for the train step (faster on GPUs, slower on CPUs).")
    deterministic: bool = _setting(False, "Deterministic TF ops: the same flags give the same weights, bit "
                                   "for bit, resumed or not (slower on GPUs; not with --jit_compile).")
    distribution_strategy: str = _setting("one_device", "one_device|mirrored (all local GPUs)|"
                                          "multi_worker_mirrored (processes named by TF_CONFIG; the chief "
                                          "writes --model_dir)|tpu.")
    tpu: str = _setting("", "TPU address for --distribution_strategy=tpu.")
    init_weights: str = _setting("", "Start from these weights: a .weights.h5 or a model_dir (its best).")
    encoder_weights: str = _setting("", "ImageNet ResNet weights for the encoder (.pth or .safetensors).")
    shared_encoder: str = _setting("", "A trained run whose encoder this net takes, frozen (e.g. the "
                                   "palette net on the CTN's encoder, so that both can share one encoder pass).")
    backup_every: int = _setting(50, "Training steps between backups (0 = at epoch ends only).")
    final_rule: str = _setting("s", "Rule of the evaluation at the end (s = the paper's Table 1).")
    edge_thresholds: int = _setting(99, "Thresholds of the edges odsF.")
    validation_metrics: bool = _setting(False, "Each task's metric at every validation (TensorBoard, "
                                        "history.csv: the learning curve tools/demo.py draws); costs a "
                                        "little per epoch.")
    log_pictures: bool = _setting(True, "A composite-prediction picture in TensorBoard each epoch.")
    skip_bad_samples: bool = _setting(False, "Skip samples whose files cannot be read or decoded (counted "
                                      "warnings, listed in <model_dir>/skipped_samples.log) instead of "
                                      "stopping the run.")
    overwrite: bool = _setting(False, "Train again from scratch in a --model_dir that holds a finished run.")
    verbose: int = _setting(1, "0 silent, 1 progress bar, 2 one line per epoch.")

    @property
    def training_rule(self):
        """The palette rule of the training split: `rule`, or the model's usual one."""
        return self.rule or {"stn": "s", "palette": "r2"}.get(self.model, "r1r")

    def check(self):
        """Every bad value is a `ValueError` naming its flag, before any work is done."""
        from ct_keras.data import RULES, detect_layout, num_examples
        from ct_keras.data.palettes import rule_parts
        from ct_keras.data.synthetic import VARIANTS, read_description
        from ct_keras.losses.composite_loss import LOSS_WEIGHTS, NORMALS_LOSSES
        from ct_keras.models.model_dir import MODELS, checkpoint_path
        from ct_keras.models.palette_net import PALETTE_RULES
        from ct_keras.tasks import TASK_NAMES, read_anchors
        from ct_keras.training import chief
        from ct_keras.training.distribution import STRATEGIES
        from ct_keras.training.schedules import SCHEDULES

        def bad(flag, message):
            raise ValueError(f"--{flag}: {message}")

        for flag in ("model_dir", "data_dir"):
            if not getattr(self, flag):
                bad(flag, "required")
        if self.model not in MODELS:
            bad("model", f"must be one of {sorted(MODELS)}, not {self.model!r}")
        if self.task and self.task not in TASK_NAMES:
            bad("task", f"must be one of {TASK_NAMES}, not {self.task!r}")
        if self.model == "stn" and not self.task:
            bad("task", "the single-task net (--model=stn) needs its task")
        if self.model == "palette" and self.training_rule not in PALETTE_RULES:
            bad("rule", f"the palette network (--model=palette) learns a semantic rule, one of "
                f"{PALETTE_RULES}, not {self.rule!r}")
        if self.final_rule not in RULES:
            bad("final_rule", f"must be one of {RULES}, not {self.final_rule!r}")
        if self.rule:
            try:
                rule_parts(self.rule)
            except ValueError:
                bad("rule", f"must be one of {RULES}, or several joined by + (each example draws one: "
                    f"rrnd+s), not {self.rule!r}")
        for flag, allowed in (("schedule", SCHEDULES), ("precision", PRECISIONS),
                              ("distribution_strategy", STRATEGIES), ("normals_loss", NORMALS_LOSSES)):
            if getattr(self, flag) not in allowed:
                bad(flag, f"must be one of {allowed}, not {getattr(self, flag)!r}")
        for flag in ("batch_size", "epochs", "image_size", "edge_thresholds"):
            if getattr(self, flag) <= 0:
                bad(flag, f"must be positive, not {getattr(self, flag)}")
        if self.distribution_strategy == "multi_worker_mirrored":
            chief.cluster_task()  # a malformed TF_CONFIG fails here
        if self.image_size % 32:
            bad("image_size", f"must be a multiple of 32, not {self.image_size}")
        for flag in ("steps_per_epoch", "validation_steps", "backup_every", "warmup_steps", "clip_grad_norm"):
            if getattr(self, flag) < 0:
                bad(flag, f"must be >= 0, not {getattr(self, flag)}")
        if self.validation_metrics and self.model == "palette":
            bad("validation_metrics", "the palette network is scored by palette mIoU at the end; "
                "the task metrics are for the task networks")
        if self.warmup_steps and self.schedule != "cosine":
            bad("warmup_steps", f"only applies with --schedule=cosine, not {self.schedule!r}")
        if "anchors" in self.model_options:
            bad("model_options", "give the class anchors with --anchors")
        try:
            read_anchors(self.anchors)
        except (ValueError, FileNotFoundError) as e:
            bad("anchors", str(e))
        if self.deterministic and self.jit_compile:
            bad("jit_compile", "cannot be combined with --deterministic (Keras turns XLA off "
                "when op determinism is on)")
        unknown = set(self.loss_weights) - set(LOSS_WEIGHTS)
        if unknown:
            bad("loss_weights", f"unknown tasks {sorted(unknown)}; tasks are {TASK_NAMES}")
        for flag in ("init_weights", "encoder_weights", "shared_encoder"):
            path = getattr(self, flag)
            if path and not os.path.exists(path):
                bad(flag, f"{path} does not exist")
        if self.shared_encoder and not os.path.isfile(checkpoint_path(self.shared_encoder, "best")):
            bad("shared_encoder", f"{self.shared_encoder} is not a finished training run (no "
                f"{checkpoint_path(self.shared_encoder, 'best')})")
        if self.shared_encoder and self.encoder_weights:
            bad("shared_encoder", "takes a trained encoder, frozen: it cannot be combined with --encoder_weights")
        if self.synthetic:
            synthetic_sizes(self.synthetic)
            if self.synthetic_variant not in VARIANTS:
                bad("synthetic_variant", f"must be one of {sorted(VARIANTS)}, not {self.synthetic_variant!r}")
        elif self.synthetic_variant != "voc":
            bad("synthetic_variant", "only applies with --synthetic (it says what to generate)")
        elif not os.path.isdir(self.data_dir):
            bad("data_dir", f"{self.data_dir} does not exist")
        if os.path.isdir(self.data_dir):
            detect_layout(self.data_dir)  # names the folder if it is not PASCAL-MT
            if self.synthetic:
                counts = (num_examples(self.data_dir, "train"), num_examples(self.data_dir, "val"))
                if counts != synthetic_sizes(self.synthetic):
                    bad("synthetic", f"{self.data_dir} holds {counts[0]} train and {counts[1]} val images, "
                        f"not the {self.synthetic} asked for: give another --data_dir or delete that one")
                description = read_description(self.data_dir) or {}
                variant = description.get("variant", self.synthetic_variant)
                if variant != self.synthetic_variant:
                    bad("synthetic_variant", f"{self.data_dir} holds the {variant!r} variant, not "
                        f"{self.synthetic_variant!r}: give another --data_dir or delete that one")
                elif description and description.get("version", 1) != VARIANTS[variant]["version"]:
                    bad("synthetic", f"{self.data_dir} was generated by version {description.get('version', 1)} "
                        f"of the {variant!r} variant, which draws other scenes than this one's version "
                        f"{VARIANTS[variant]['version']}: delete that folder and it is generated anew")
        if self.schedule == "cosine" and (self.steps_per_epoch or os.path.isdir(self.data_dir)):
            total = self.epochs * (self.steps_per_epoch or max(1, num_examples(self.data_dir, "train")
                                                               // self.batch_size))
            if self.warmup_steps >= total:
                bad("warmup_steps", f"must be below the run's {total} steps (--epochs × steps per "
                    f"epoch), not {self.warmup_steps}")
        finished = os.path.join(self.model_dir, "metrics.json")
        if os.path.isfile(finished) and not self.overwrite:
            bad("model_dir", f"{self.model_dir} holds a finished run ({finished}); pass --overwrite "
                "to train it again from scratch, or choose another --model_dir")


def synthetic_sizes(value):
    """`--synthetic` "TRAIN,VAL" → `(train, val)` image counts."""
    try:
        train, val = (int(v) for v in value.split(","))
        if train <= 0 or val <= 0:
            raise ValueError
    except ValueError:
        raise ValueError(f"--synthetic: expected 'TRAIN,VAL' image counts, not {value!r}") from None
    return train, val
