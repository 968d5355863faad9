"""Copy extracted files into a versioned publish area."""

import os
import shutil
import tempfile

import pyblish.api

ROOT_ENV = "PYBLISH_EXAMPLE_ROOT"


class IntegrateVersions(pyblish.api.InstancePlugin):
    """Copy to $PYBLISH_EXAMPLE_ROOT/<node>/v001/ (the next free version)."""

    order = pyblish.api.IntegratorOrder
    label = "Integrate versions"

    def process(self, instance):
        root = os.environ.get(ROOT_ENV) or os.path.join(
            tempfile.gettempdir(), "pyblish-example-publishes"
        )
        node_dir = os.path.join(root, instance.data["node"])
        os.makedirs(node_dir, exist_ok=True)
        version = 1 + sum(1 for name in os.listdir(node_dir) if name.startswith("v"))
        destination = os.path.join(node_dir, f"v{version:03d}")
        os.makedirs(destination)
        for path in instance.data["files"]:
            shutil.copy(path, destination)
        instance.data["published"] = destination
        self.log.info("published %s", destination)
