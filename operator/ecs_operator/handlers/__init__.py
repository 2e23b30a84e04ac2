"""kopf handlers, one module per kind. Importing this package registers them."""

import kopf

from ..runner import configure


@kopf.on.startup()
def _startup(settings: kopf.OperatorSettings, **kwargs):
    configure(settings)
    ecsservice.remember_indexes(kwargs)  # kopf passes its (still empty) indexes to startup handlers


from . import capacityprovider, ecscluster, ecsservice, ecstask, nodes, taskdefinition  # noqa: E402,F401  (register the handlers)
