"""Task Palettes from users: rules, palette files, painted palettes, edit files (paper §6.2–6.3).

    specs   PaletteSpec / palette_from_spec: the one parser of palette specs
    files   palette and label files; the task legend colours (`LEGEND`)
    edits   edit files: rectangles, polygons, circles, brush strokes painted with a task
    ids     task names and ids, and the check that a palette holds task ids
    resize  nearest-neighbour resizing of id maps

numpy and PIL only, except the training rules (r1r, rrnd), which run
`ct_keras.data.palettes` in TensorFlow.
"""

from ct_keras.palettes.edits import Edits, read_edits
from ct_keras.palettes.files import LEGEND, read_label, read_palette_file, write_palette_png
from ct_keras.tasks import check_task_ids
from ct_keras.palettes.resize import resize_nearest
from ct_keras.palettes.specs import SPEC_HELP, PaletteSpec, palette_from_spec
