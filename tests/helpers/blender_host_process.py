"""A host inside real Blender (``bpy`` from PyPI), for the optional Blender test.

    python tests/helpers/blender_host_process.py MODE UI_ENDPOINT

``bpy`` as a module runs in background mode and has no event loop, so its
timers never fire. MODE says who runs the calls on the main thread:

- ``batch``: ``serve()`` with no dispatcher (``detect()`` sees
  ``bpy.app.background`` and gives a queue), then ``serve_forever()``, as a
  ``blender -b`` script does;
- ``timer``: a :class:`host_adapter.BlenderDispatcher`, whose timer is
  registered with the real ``bpy.app.timers``; this script then calls the
  timer function itself, waiting as long as it asks, as Blender's event loop
  would.

Prints the endpoint, id and dispatcher class; serves until ``quit``.
"""

from __future__ import annotations

import sys
import threading

from tests.helpers.main_thread_host import (
    MainThreadService,
    _main_thread_only,
    stop_after_replies,
    watch_sockets,
)


class BlenderService(MainThreadService):
    """A few real bpy functions, plus the main-thread checks."""

    @_main_thread_only
    def objects(self):
        """Names of the objects in the file."""
        import bpy

        return sorted(obj.name for obj in bpy.data.objects)

    @_main_thread_only
    def create(self, name):
        """Create an empty mesh object in the scene; return its name."""
        import bpy

        obj = bpy.data.objects.new(name, bpy.data.meshes.new(name))
        bpy.context.scene.collection.objects.link(obj)
        return obj.name

    @_main_thread_only
    def select(self, name):
        """Select one object; return the names of the selected objects."""
        import bpy

        for obj in bpy.context.scene.objects:
            obj.select_set(obj.name == name)
        return sorted(obj.name for obj in bpy.context.scene.objects if obj.select_get())

    @_main_thread_only
    def scene_file(self):
        """The path of the .blend file ("" if never saved)."""
        import bpy

        return bpy.data.filepath


def main(mode: str, ui_endpoint: str) -> int:
    import bpy

    watch_sockets()
    import host_adapter

    service = BlenderService()
    dispatcher = None if mode == "batch" else host_adapter.BlenderDispatcher(interval=0.05)
    adapter = host_adapter.serve(
        service, name="blender", ui=ui_endpoint, dispatcher=dispatcher, heartbeat_interval=0.1
    )
    if dispatcher is None:
        service.attach(adapter, adapter.stop)
    else:
        assert bpy.app.timers.is_registered(dispatcher.timer)
        service.attach(adapter, dispatcher.close)
    print(adapter.endpoint, flush=True)
    print(adapter.id, flush=True)
    print(type(adapter.dispatcher).__name__, flush=True)
    try:
        if dispatcher is None:
            adapter.serve_forever()
        else:
            # Blender's event loop, reduced to our one timer.
            assert threading.current_thread() is threading.main_thread()
            wait = dispatcher.pump()
            while wait is not None:
                dispatcher.queue.wait_for_calls(wait)
                wait = dispatcher.pump()
            # close() on the main thread (quit) unregistered the timer.
            assert not bpy.app.timers.is_registered(dispatcher.timer)
    finally:
        stop_after_replies(adapter)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
