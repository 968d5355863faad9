"""Models end in _GEO and rigs in _RIG; repairable."""

import pyblish.api
import scene


class SelectInvalid(pyblish.api.Action):
    """Report the badly named nodes (a DCC would select them)."""

    label = "Select invalid"
    on = "failed"

    def process(self, context, plugin):
        invalid = [i.data["node"] for i in context if not _valid(i)]
        self.log.info("invalid: %s", ", ".join(invalid))


def _suffix(instance):
    return "_GEO" if instance.data["family"] == "model" else "_RIG"


def _valid(instance):
    return instance.data["node"].endswith(_suffix(instance))


class ValidateNaming(pyblish.api.InstancePlugin):
    """Models end in _GEO, rigs in _RIG."""

    order = pyblish.api.ValidatorOrder
    families = ["model", "rig"]
    label = "Validate naming"
    actions = [SelectInvalid]

    def process(self, instance):
        node = instance.data["node"]
        self.log.debug("checking %s", node)
        if not _valid(instance):
            raise ValueError(f"{node!r} must end in {_suffix(instance)}")

    def repair(self, instance):
        old = instance.data["node"]
        new = old + _suffix(instance)
        scene.rename(old, new)
        instance.data["node"] = new
        self.log.info("renamed %s to %s", old, new)
