"""The paper's result tables as data: which runs each row needs, how it is evaluated, and
the numbers the paper printed (main text Tables 1–4, supplementary Tables 7–15).

A row names its model (`stn` = the five single-task nets, merged), the rule it was trained
with (`r2>r3`: trained on R2, then fine-tuned on R3), the rule it is evaluated under, and
optionally a knob (model or loss options, for the ablations). Δm of a row is taken against
its table's baseline row with the same evaluation rule, over the table's columns.
"""

import dataclasses

# Column key → header, in the paper's order.
COLUMN_NAMES = {"edges_odsf": "Edge", "semseg_miou": "SemSeg", "parts_miou": "Parts",
                "normals_mean_angle": "Normals", "saliency_maxiou": "Sal"}
ALL_COLUMNS = tuple(COLUMN_NAMES)


@dataclasses.dataclass(frozen=True)
class Row:
    model: str                 # "stn" | "mhn" | "ctn"
    train_rule: str            # "s" | "r1r" | "rrnd" | "r2" | "r3" | "r2>r3"
    eval_rule: str
    paper: tuple               # the paper's values, in the table's column order
    paper_delta_m: float = None
    knob: tuple = ()           # (("flag", "value"), …): a training flag this row changes
    label: str = ""            # what the row's first cell says (default: model and rule)
    baseline: bool = False     # Δm of the rows with its eval_rule is against this one


@dataclasses.dataclass(frozen=True)
class Table:
    number: str
    title: str
    columns: tuple
    rows: tuple


def _rows(model, train_rule, eval_rule, lines, **kw):
    return tuple(Row(model, train_rule, eval_rule, values, delta, **kw) for values, delta in lines)


TABLE_1 = Table("1", "Testing the models on the single task rule S", ALL_COLUMNS, (
    Row("stn", "s", "s", (69.50, 63.69, 58.76, 15.58, 69.38), 0.0, baseline=True),
    Row("mhn", "s", "s", (68.10, 60.77, 54.21, 16.44, 67.21), -4.60),
    Row("stn", "r1r", "s", (68.30, 59.82, 49.88, 16.07, 69.94), -5.05),
    Row("mhn", "r1r", "s", (67.70, 61.64, 52.84, 16.40, 67.70), -4.71),
    Row("ctn", "r1r", "s", (68.60, 62.45, 52.59, 16.93, 67.81), -4.93),
))

TABLE_2 = Table("2", "Testing the models on the semantic rule R2", ALL_COLUMNS, (
    Row("stn", "s", "r2", (65.80, 79.32, 56.21, 14.75, 73.23), 0.0, baseline=True),
    Row("mhn", "s", "r2", (64.60, 73.94, 50.65, 15.68, 71.01), -5.57),
    Row("stn", "r1r", "r2", (64.80, 74.12, 44.81, 15.42, 73.22), -6.58),
    Row("mhn", "r1r", "r2", (65.20, 75.97, 49.07, 15.62, 71.74), -5.15),
    Row("ctn", "r1r", "r2", (62.30, 76.73, 48.87, 16.45, 71.40), -7.13),
    Row("stn", "r2", "r2", (63.90, 83.91, 59.63, 17.13, 70.04), -2.30),
    Row("mhn", "r2", "r2", (64.40, 83.71, 58.44, 17.44, 67.02), -3.87),
    Row("ctn", "r2", "r2", (69.20, 84.70, 59.74, 18.12, 67.95), -2.37),
))

TABLE_3 = Table("3", "Breaking the rule: R2 → R3", (
    "edges_odsf", "parts_miou", "normals_mean_angle", "saliency_maxiou"), (
    Row("ctn", "r3", "r3", (70.20, 61.19, 18.34, 75.35), 0.0, baseline=True),
    Row("ctn", "r2", "r3", (69.70, 59.41, 20.11, 65.21), -6.68),
    Row("ctn", "r2>r3", "r3", (69.70, 60.91, 18.68, 75.00), -0.87),
    Row("ctn", "r2", "r2", (69.20, 59.74, 18.12, 67.95), 0.0, baseline=True),
    Row("ctn", "r2>r3", "r2", (69.40, 60.84, 17.95, 68.31), 0.90),
))

TABLE_4 = Table("4", "Evaluating on randomly chosen tasks at each pixel (Rrnd)", (
    "semseg_miou", "parts_miou", "normals_mean_angle", "saliency_maxiou"), (
    Row("ctn", "r1r", "s", (62.45, 52.59, 16.93, 67.81)),
    Row("ctn", "r1r", "rrnd", (35.89, 21.11, 64.36, 66.71)),
    Row("ctn", "rrnd", "rrnd", (59.58, 52.28, 17.16, 67.60)),
    Row("ctn", "rrnd", "s", (52.26, 51.88, 22.65, 65.34)),
))

# Supplementary §F: one knob of the CTN at a time (trained on R1r, evaluated on S), Δm
# against the chosen setting. (flag, value, label, the paper's five values, its Δm)
_CHOSEN = (68.60, 62.45, 52.59, 16.93, 67.81)
_ABLATIONS = (
    ("7", "Shared 1×1 convolutions on E(T) in each task composition block", "model_options",
     "num_shared_convs", (("1", _CHOSEN, 0.0), ("2", (68.60, 61.93, 51.49, 17.15, 67.56), -0.92),
                          ("3", (68.30, 62.01, 52.28, 17.16, 67.60), -0.68))),
    ("8", "Kernel size of the decoder's task composition convolutions", "model_options",
     "decoder_kernel_size", (("3", _CHOSEN, 0.0), ("1", (66.20, 61.50, 51.05, 17.87, 67.16), -2.89))),
    ("9", "Output channels of the model", "model_options", "output_channels",
     (("3", _CHOSEN, 0.0), ("6", (68.50, 62.35, 52.99, 17.08, 67.65), -0.13),
      ("9", (68.50, 62.42, 52.50, 17.39, 67.89), -0.59))),
    ("10", "Interpolation of the Task Palette embedding pyramid", "model_options",
     "pyramid_interpolation", (("bilinear", _CHOSEN, 0.0),
                               ("nearest", (67.60, 60.92, 51.37, 17.20, 67.51), -1.65))),
    ("11", "Fully connected layers of the task representation block", "model_options", "mlp_depth",
     (("3", (68.00, 7.61, 42.62, 16.37, 71.53), -19.77), ("6", _CHOSEN, 0.0),
      ("9", (68.70, 62.29, 52.18, 16.95, 67.43), -0.31), ("12", (52.80, 36.46, 13.69, 67.60, 44.93), -94.33))),
    ("12", "Channels of the Task Palette embedding E(T)", "model_options", "embedding_dim",
     (("32", (68.70, 62.14, 51.86, 16.95, 67.46), -0.47), ("64", (68.60, 62.06, 52.67, 17.06, 67.86), -0.23),
      ("128", _CHOSEN, 0.0), ("256", (68.40, 60.36, 51.53, 17.11, 67.35), -1.48),
      ("512", (1.40, 11.22, 4.53, 30.87, 18.64), -85.26))),
    ("13", "Encoder backbone", "backbone", None,
     (("resnet18", (67.40, 60.40, 49.25, 17.25, 66.87), -2.93), ("resnet34", _CHOSEN, 0.0),
      ("resnet50", (69.40, 62.34, 53.81, 16.64, 68.19), 1.12),
      ("resnet101", (69.60, 63.75, 55.78, 16.71, 69.55), 2.69))),
    ("14", "Loss of the surface normals", "normals_loss", None,
     (("cosine", _CHOSEN, 0.0), ("l1", (67.60, 58.91, 49.20, 19.77, 67.53), -6.15))),
    ("15", "γ of the focal loss of semseg and parts", "focal_gamma", None,
     (("0", (68.40, 61.39, 51.93, 17.29, 67.40), -1.19), ("1", (68.10, 61.99, 51.61, 17.46, 67.05), -1.52),
      ("2", _CHOSEN, 0.0), ("3", (68.70, 61.60, 51.39, 17.06, 67.88), -0.83))),
)
# The setting the paper chose for each knob (the baseline row of its table).
CHOSEN = {"num_shared_convs": "1", "decoder_kernel_size": "3", "output_channels": "3",
          "pyramid_interpolation": "bilinear", "mlp_depth": "6", "embedding_dim": "128",
          "backbone": "resnet34", "normals_loss": "cosine", "focal_gamma": "2"}


def _ablation(number, title, flag, option, settings):
    rows = []
    for value, paper, delta in settings:
        knob_name = option or flag
        knob = ((flag, f"{option}={value}"),) if option else ((flag, value),)
        rows.append(Row("ctn", "r1r", "s", paper, delta, knob=knob, label=f"{knob_name}={value}",
                        baseline=value == CHOSEN[knob_name]))
    return Table(number, title, ALL_COLUMNS, tuple(rows))


ABLATION_TABLES = tuple(_ablation(*a) for a in _ABLATIONS)
TABLES = {t.number: t for t in (TABLE_1, TABLE_2, TABLE_3, TABLE_4, *ABLATION_TABLES)}
MAIN_TABLES = ("1", "2", "3", "4")


def tables(which):
    """`"1"`…`"4"`, `"all"` (1–4), `"ablations"` (7–15), or a comma list → Table list."""
    names = {"all": MAIN_TABLES, "ablations": tuple(t.number for t in ABLATION_TABLES)}
    chosen = []
    for part in str(which).split(","):
        part = part.strip()
        for number in names.get(part, (part,)):
            if number not in TABLES:
                raise ValueError(f"--table: must be 1, 2, 3, 4, all, ablations or one of "
                                 f"{sorted(TABLES, key=int)}, not {part!r}")
            if TABLES[number] not in chosen:
                chosen.append(TABLES[number])
    return chosen
