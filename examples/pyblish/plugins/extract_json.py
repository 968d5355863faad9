"""Write each instance to a file in the staging directory."""

import os

import pyblish.api
import scene


class ExtractJson(pyblish.api.InstancePlugin):
    """Export the node to <stagingDir>/<node>.json."""

    order = pyblish.api.ExtractorOrder
    label = "Extract JSON"

    def process(self, instance):
        node = instance.data["node"]
        path = os.path.join(instance.context.data["stagingDir"], node + ".json")
        scene.export(node, path)
        instance.data["files"] = [path]
        self.log.info("wrote %s", path)
