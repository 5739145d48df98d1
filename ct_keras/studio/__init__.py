"""The palette studio (paper §6.3, Figs. 9 and 16): paint a Task Palette over an image in the
browser and see the composite prediction redrawn after each stroke.

    uploads   pictures, palette files and edit files from the page, capped, read by the library
    session   Studio: pictures, starting palettes, the painted shapes → palette → prediction
    views     the PNGs, legend and downloads (npz, figure, edit file) of a prediction
    server    create_app: the Starlette app, a thin shell over `Studio` (needs the [studio] extra)
    static/   the page: HTML, CSS and one ES module per concern, no build step

Started by tools/studio.py.
"""

from ct_keras.studio.session import Studio
