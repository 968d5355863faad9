"""Collect an instance per mesh and rig in the scene."""

import tempfile

import pyblish.api
import scene


class CollectScene(pyblish.api.ContextPlugin):
    """One instance per mesh (family "model") and rig (family "rig")."""

    order = pyblish.api.CollectorOrder
    label = "Collect scene"

    def process(self, context):
        context.data["stagingDir"] = tempfile.mkdtemp(prefix="pyblish-example-")
        for family, node_type in (("model", "mesh"), ("rig", "rig")):
            for node in scene.ls(node_type):
                attributes = scene.attributes(node)
                instance = context.create_instance(node, family=family)
                instance.data["node"] = node
                instance.data["frameRange"] = (1001, 1100)  # a tuple: arrives as a list
                instance.data["tags"] = {family, node_type}  # a set: arrives as a sorted list
                instance.data["attributes"] = attributes
                instance.append(node)
                self.log.info("collected %s (%s)", node, family)
