"""Who may talk to an endpoint: key files, CURVE, and the settings object.

=================  ============================================================
:mod:`.options`    :class:`Security`: what ``auth=`` means, in one object
:mod:`.keys`       the per-user key: where it lives, how it is made and checked
:mod:`.curve`      CURVE across machines (``zmq.auth``)
=================  ============================================================
"""

from .options import AuthLike, Security, resolve

__all__ = ["Security", "AuthLike", "resolve"]
