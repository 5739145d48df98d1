import os

import numpy as np
import scipy.io

from ct_keras.data.layout import open_pascal_mt
import pytest

from ct_keras.data.synthetic import VARIANTS, generate_pascal_mt, read_description, render_scene
from ct_keras.tasks import VOC_CLASSES


def _files(path):
    out = {}
    for root, _, names in os.walk(path):
        for name in names:
            with open(os.path.join(root, name), "rb") as f:
                data = f.read()
            # A .mat file's 128-byte header holds its creation time; the rest must match.
            out[os.path.relpath(os.path.join(root, name), path)] = data[128:] if name.endswith(".mat") else data
    return out


def test_generation_is_deterministic_per_seed(tmp_path):
    generate_pascal_mt(str(tmp_path / "a"), 2, 1, seed=5, size=48)
    generate_pascal_mt(str(tmp_path / "b"), 2, 1, seed=5, size=48)
    generate_pascal_mt(str(tmp_path / "c"), 2, 1, seed=6, size=48)
    a, b, c = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert len(a) == 2 + 3 * 6 + 1  # two split files, six files per image, synthetic.json
    assert a == b
    assert read_description(str(tmp_path / "c")) == {"variant": "voc", "version": 1, "seed": 6, "size": 48,
                                                     "num_train": 2, "num_val": 1}
    jpegs = [k for k in a if k.endswith(".jpg")]
    assert all(a[k] != c[k] for k in jpegs)


def test_parts_mat_has_pascal_part_nesting(synthetic_dir):
    reader = open_pascal_mt(synthetic_dir, "train")
    for image_id in reader.ids:
        anno = scipy.io.loadmat(reader.files(image_id)["parts"])["anno"]
        objects = anno[0][0][1][0]  # the positional access ASTMT uses
        assert str(anno[0][0][0][0]) == image_id
        for obj in objects:
            class_ind = int(obj[1][0][0])
            assert str(obj[0][0]) == VOC_CLASSES[class_ind]
            if class_ind == VOC_CLASSES.index("person"):
                names = {str(part[0][0]) for part in obj[3][0]}
                assert {"head", "torso", "luarm", "rlleg", "lfoot"} <= names
                assert obj[2].any()


def test_scenes_are_textured_shaded_and_occluded():
    rng = np.random.default_rng(0)
    classes, stds, occluded = set(), [], 0
    for _ in range(30):
        scene = render_scene(rng, 96, 96)
        for name, mask, _ in scene["objects"]:
            if mask.sum() > 100:
                classes.add(name)
                stds.append(scene["image"][mask].std(axis=0).mean())
        masks = [m for _, m, _ in scene["objects"]]
        occluded += any(m.sum() == 0 for m in masks) or len(masks) > 1
    assert len(classes) >= 15
    # Objects are not flat colours: texture and shading vary inside them.
    assert np.median(stds) > 12
    assert occluded > 5


def test_normal_labels_are_unit_and_face_the_viewer(synthetic_dir):
    reader = open_pascal_mt(synthetic_dir, "val")
    for index in range(len(reader)):
        sample = reader.read(index)
        n = 2 * sample["normals"].astype(np.float32) / 255 - 1
        valid = sample["normals_valid"] > 0
        norms = np.linalg.norm(n[valid], axis=-1)
        assert np.all(np.abs(norms - 1) < 0.03)
        assert (n[valid][:, 2] > -0.05).all()


def _object_stats(variant, scenes=40):
    rng = np.random.default_rng(1)
    names, foreground, people = set(), [], 0
    for _ in range(scenes):
        scene = render_scene(rng, 64, 64, variant)
        names |= {name for name, mask, _ in scene["objects"] if mask.any()}
        foreground.append(np.mean((scene["semseg"] > 0) & (scene["semseg"] < 255)))
        people += any(name == "person" for name, _, _ in scene["objects"])
    return names, np.mean(foreground), people / scenes


def test_easy_variant_draws_its_few_classes_larger_and_more_people():
    voc, easy = _object_stats("voc"), _object_stats("easy")
    assert easy[0] == set(VARIANTS["easy"]["classes"])
    assert len(voc[0]) > 10
    assert easy[1] > 2 * voc[1]  # foreground share of the pixels
    assert easy[2] > voc[2]      # images with people


def test_unknown_variant_is_an_error_naming_the_choices(tmp_path):
    with pytest.raises(ValueError, match=r"Unknown synthetic variant 'hard'; choose one of \['easy', 'voc'\]"):
        generate_pascal_mt(str(tmp_path / "x"), 1, 1, size=48, variant="hard")
    assert not (tmp_path / "x").exists()


def test_easy_variant_gives_every_task_of_r2_and_r3_labelled_pixels(tmp_path):
    """The smoke Tables 2 and 3 train on R2 and test on R3: each task a rule hands pixels
    to must have labels there (version 1's only R2-normals class, the potted plant, has no
    distilled normals, so an R2-trained net never learned normals)."""
    from ct_keras.data.palettes import SEMANTIC_RULE_TABLES, class_to_task
    from ct_keras.tasks import EDGES, NORMALS, PARTS

    generate_pascal_mt(str(tmp_path), 16, 0, seed=0, size=64, variant="easy")
    reader = open_pascal_mt(str(tmp_path), "train")
    labelled = {rule: dict.fromkeys([*SEMANTIC_RULE_TABLES[rule], EDGES], 0) for rule in ("r2", "r3")}
    for index in range(len(reader)):
        sample = reader.read(index)
        valid = {NORMALS: sample["normals_valid"] > 0, PARTS: sample["parts"] != 255}
        for rule in labelled:
            palette = np.asarray(class_to_task(rule))[sample["semseg"]]
            for task in labelled[rule]:
                labelled[rule][task] += int(((palette == task) & valid.get(task, True)).sum())
    for rule, counts in labelled.items():
        assert all(n > 100 for n in counts.values()), (rule, counts)


def test_a_folder_of_an_older_variant_version_is_not_taken_for_the_new_one(tmp_path):
    import json

    from ct_keras.training.config import TrainConfig

    data = tmp_path / "data"
    generate_pascal_mt(str(data), 2, 1, size=48, variant="easy")
    assert read_description(str(data))["version"] == VARIANTS["easy"]["version"]
    config = TrainConfig(data_dir=str(data), synthetic="2,1", synthetic_variant="easy",
                         model_dir=str(tmp_path / "run"))
    config.check()  # the folder this version wrote is taken as it is
    description = read_description(str(data))
    description.pop("version")  # as version 1 wrote it (potted plants, no R2 normals)
    (data / "synthetic.json").write_text(json.dumps(description))
    with pytest.raises(ValueError, match=r"--synthetic: .* was generated by version 1 of the 'easy' "
                                         r"variant, .* delete that folder and it is generated anew"):
        config.check()
