"""Pyblish plug-ins the publishing tests run, in a host process and in-process.

``install(scenario)`` clears pyblish's global registries and registers the
plug-ins of one scenario; ``clear()`` clears them. Both the helper host
process (tests/helpers/pyblish_host_process.py) and the tests themselves use them,
so a remote publish and ``pyblish.util.publish`` run the very same classes.

Extractors write into ``$PYBLISH_TEST_STAGING`` (one file per instance).
"""

from __future__ import annotations

import collections
import contextlib
import copy
import os
import threading
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pyblish
import pyblish.api
import pyblish.logic
import pyblish.plugin

STAGING_ENV = "PYBLISH_TEST_STAGING"
#: One processed pair: plug-in class name, instance name or None, success, error message.
Row = Tuple[str, Optional[str], bool, Optional[str]]


class Opaque:
    """Something msgpack cannot carry."""

    def __repr__(self) -> str:
        return "Opaque()"


class CollectModels(pyblish.api.ContextPlugin):
    """Create the scene's instances, with data of every awkward kind."""

    order = pyblish.api.CollectorOrder
    label = "Collect models"
    subsets = ("cube_GEO", "sphere_GEO", "rig_RIG")

    def process(self, context):
        context.data["staging"] = os.environ.get(STAGING_ENV, "")
        context.data["scene"] = collections.OrderedDict([("fps", 25), ("start", 1001)])
        for subset in self.subsets:
            family = "rig" if subset.endswith("_RIG") else "model"
            instance = context.create_instance(subset.split("_")[0], family=family)
            instance.data.update(
                subset=subset,
                tags={"b", "a"},
                frames=(1001, 1010),
                big=2**63 + 1,
                huge=2**70,
                handle=Opaque(),
                # Names of pyblish-qml's own item fields: it must not take these.
                duration="48 frames",
                hasError=True,
            )
            instance.append(f"|{subset}")
            self.log.info("collected %s", subset)


class CollectModelsWithBadName(CollectModels):
    """As CollectModels, with one subset named against the rules."""

    subsets = ("cube_GEO", "sphere", "rig_RIG")


class CollectFrames(pyblish.api.InstancePlugin):
    """An instance collector: runs on what CollectModels created."""

    order = pyblish.api.CollectorOrder + 0.1
    families = ["model"]

    def process(self, instance):
        instance.data["frameCount"] = instance.data["frames"][1] - instance.data["frames"][0] + 1


class SelectInvalid(pyblish.api.Action):
    """Select the instances that failed."""

    label = "Select invalid"
    on = "failed"

    def process(self, context, plugin):
        names = [i.name for i in context if not i.data["subset"].endswith(("_GEO", "_RIG"))]
        context.data["selected"] = names
        self.log.info("selected %s", ", ".join(names))


class AlwaysAvailable(pyblish.api.Action):
    label = "Always"


class ValidateNames(pyblish.api.InstancePlugin):
    """Subsets end in _GEO (models) or _RIG (rigs)."""

    order = pyblish.api.ValidatorOrder
    families = ["model", "rig"]
    label = "Validate names"
    actions = [pyblish.api.Category("Fix"), SelectInvalid, AlwaysAvailable]

    def process(self, instance):
        subset = instance.data["subset"]
        self.log.debug("checking %s", subset)
        if not subset.endswith(("_GEO", "_RIG")):
            raise ValueError(f"{subset!r} must end in _GEO or _RIG")

    def repair(self, instance):
        instance.data["subset"] = instance.data["subset"] + "_GEO"
        self.log.info("renamed to %s", instance.data["subset"])


class ValidateScene(pyblish.api.ContextPlugin):
    """A context validator that only warns."""

    order = pyblish.api.ValidatorOrder + 0.1

    def process(self, context):
        self.log.warning("scene has %d instances", len(context))


class ValidateLights(pyblish.api.InstancePlugin):
    """Matches no instance: pyblish leaves it out."""

    order = pyblish.api.ValidatorOrder
    families = ["light"]

    def process(self, instance):
        raise AssertionError("never runs: no light instances")


class ValidateDisabled(pyblish.api.ContextPlugin):
    order = pyblish.api.ValidatorOrder
    active = False

    def process(self, context):
        raise AssertionError("never runs: inactive")


class ExtractFiles(pyblish.api.InstancePlugin):
    """Write each instance to a file in the staging directory."""

    order = pyblish.api.ExtractorOrder
    label = "Extract files"

    def process(self, instance):
        staging = instance.context.data["staging"]
        path = os.path.join(staging, instance.data["subset"] + ".txt")
        with open(path, "w") as stream:
            stream.write(repr(sorted(instance)))
        instance.data["path"] = path
        self.log.info("wrote %s on %s", path, threading.current_thread().name)


class ExtractForFarm(pyblish.api.ContextPlugin):
    """Only for the "farm" target."""

    order = pyblish.api.ExtractorOrder
    targets = ["farm"]

    def process(self, context):
        context.data["farm"] = True


class IntegrateFiles(pyblish.api.InstancePlugin):
    order = pyblish.api.IntegratorOrder
    families = ["model"]

    def process(self, instance):
        instance.data["integrated"] = True
        instance.context.data.setdefault("integrated", []).append(instance.name)


class IntegrateRemoveRig(pyblish.api.ContextPlugin):
    """Remove an instance and reorder the rest: the UI's copy must follow."""

    order = pyblish.api.IntegratorOrder + 0.1

    def process(self, context):
        for instance in list(context):
            if instance.data["family"] == "rig":
                context.remove(instance)
        context[:] = sorted(context, key=lambda instance: instance.name, reverse=True)


_COMMON = [
    CollectFrames,
    ValidateNames,
    ValidateScene,
    ValidateLights,
    ValidateDisabled,
    ExtractFiles,
    ExtractForFarm,
    IntegrateFiles,
    IntegrateRemoveRig,
]

SCENARIOS: Dict[str, List[type]] = {
    "basic": [CollectModels, *_COMMON],
    "failing": [CollectModelsWithBadName, *_COMMON],
}


_REGISTRIES = (
    "_registered_paths",
    "_registered_callbacks",
    "_registered_plugins",
    "_registered_services",
    "_registered_test",
    "_registered_hosts",
    "_registered_targets",
    "_registered_gui",
    "_registered_plugin_filters",
)


@contextlib.contextmanager
def isolated() -> Iterator[None]:
    """Clear pyblish's global registries inside, and put them back as they were after."""
    saved = {name: copy.copy(getattr(pyblish, name)) for name in _REGISTRIES}
    saved_callbacks = {signal: list(c) for signal, c in pyblish._registered_callbacks.items()}
    clear()
    try:
        yield
    finally:
        for name, value in saved.items():
            registry = getattr(pyblish, name)
            if isinstance(registry, dict):
                registry.clear()
                registry.update(value)
            else:
                registry[:] = value
        pyblish._registered_callbacks.clear()
        pyblish._registered_callbacks.update(saved_callbacks)


def clear() -> None:
    """Empty every pyblish registry a test could have filled."""
    pyblish.api.deregister_all_plugins()
    pyblish.api.deregister_all_paths()
    pyblish.api.deregister_all_callbacks()
    pyblish.api.deregister_all_targets()
    pyblish.api.deregister_all_discovery_filters()
    pyblish.api.deregister_test()
    pyblish.api.deregister_all_hosts()
    pyblish.api.register_host("python")


def result_rows(results: List[Dict[str, Any]]) -> List[Row]:
    """pyblish's own results as (plug-in, instance, success, error message) rows."""
    return [
        (
            result["plugin"].__name__,
            result["instance"].name if result["instance"] is not None else None,
            result["success"],
            str(result["error"]) if result["error"] else None,
        )
        for result in results
    ]


def install(scenario: str) -> List[type]:
    """Clear the registries and register the plug-ins of ``scenario``."""
    clear()
    plugins = SCENARIOS[scenario]
    for plugin in plugins:
        pyblish.api.register_plugin(plugin)
    return plugins
