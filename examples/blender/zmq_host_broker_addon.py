"""Blender add-on: serve a few Blender functions to UIs.

Install it with Edit > Preferences > Add-ons > Install... (this one file), and
make ``zmq-host-broker`` importable by Blender's Python
(``<blender>/python/bin/python3 -m pip install`` the wheel: README, "Install"). Blender has
no function that runs code on its main thread, so ``host_adapter.serve()``
picks a ``BlenderDispatcher``: a ``bpy.app.timers`` timer that runs the queued
calls on the main thread.

In background mode (``blender -b``) timers do not run and nothing starts here:
a ``blender -b --python`` script serves with ``adapter.serve_forever()``.
"""

import bmesh
import bpy

bl_info = {
    "name": "zmq-host-broker host",
    "description": "Serve this Blender to publishing UIs over ZeroMQ",
    "author": "zmq-host-broker",
    "version": (0, 1, 0),
    "blender": (2, 80, 0),
    "category": "System",
}

ADAPTER = None


def objects():
    """Names of the objects in the file."""
    return [obj.name for obj in bpy.data.objects]


def select(names):
    """Select exactly these objects of the view layer; return the selection."""
    for obj in bpy.context.view_layer.objects:
        obj.select_set(obj.name in names)
    return [obj.name for obj in bpy.context.view_layer.objects if obj.select_get()]


def create_cube(name="Cube", size=2.0):
    """Create a cube object in the scene; return its name."""
    mesh = bpy.data.meshes.new(name)
    shape = bmesh.new()
    bmesh.ops.create_cube(shape, size=size)
    shape.to_mesh(mesh)
    shape.free()
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    return obj.name


def scene_file():
    """The path of the .blend file ("" when it was never saved)."""
    return bpy.data.filepath


def register():
    global ADAPTER
    if bpy.app.background or ADAPTER is not None:
        return
    import host_adapter

    # On the main thread, as register() is: the dispatcher registers its timer.
    ADAPTER = host_adapter.serve([objects, select, create_cube, scene_file], name="blender")


def unregister():
    global ADAPTER
    if ADAPTER is not None:
        ADAPTER.stop()  # also stops the timer it started
        ADAPTER = None
