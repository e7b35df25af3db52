"""The widget's keyboard shortcuts, bound on each of its layers and the target.

napari looks a key up in the selected layer's keymap first, then the viewer's.
The Labels layer binds Ctrl+Z to its own undo; binding ours on every layer the
widget uses (prompts, preview, target, image) makes the shortcuts act the same
whichever of them is selected.
"""

from __future__ import annotations

# (napari key, widget method, description); the docs' shortcut table is built from this.
SHORTCUTS = [
    ("T", "toggle_polarity", "flip the polarity of new points (or of the selected points)"),
    ("C", "commit", "commit the current object to the target layer with a new id"),
    ("Shift-C", "clear", "clear the current object's points and preview"),
    ("Control-Z", "undo", "undo the last click, clear, commit or brush/eraser/fill edit of the target"),
    ("Control-Shift-Z", "redo", "redo"),
    ("N", "carry_next", "carry the object to the next slice (same id)"),
    ("Shift-N", "carry_previous", "carry the object to the previous slice (same id)"),
]


def bind_shortcuts(layer, widget) -> None:
    """Bind the shortcuts on `layer`'s own keymap (overriding its class bindings)."""
    for key, method, _ in SHORTCUTS:
        layer.bind_key(key, _caller(widget, method), overwrite=True)


def unbind_shortcuts(layer) -> None:
    for key, _, _ in SHORTCUTS:
        try:
            layer.bind_key(key, None)
        except (KeyError, ValueError):
            pass


def _caller(widget, method: str):
    def call(_layer):
        getattr(widget, method)()

    call.__doc__ = method
    return call
