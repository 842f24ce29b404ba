"""Differences between the plaso releases plaso-smtp supports, bridged at run time.

plaso-smtp supports plaso 20240308 (the release Turbinia pins) to the newest. The
parser is written against the newest API; where an older plaso lacks a method the
parser calls, this module adds it, detected by the method's presence, not by the
version string. It changes plaso only in memory.

Differences bridged:

- ``ParserMediator.ProduceWarning(message, path_spec=None, recovered=False)``
  replaced ``ProduceExtractionWarning`` and ``ProduceRecoveryWarning`` (after
  20240308). Older releases get a ``ProduceWarning`` that calls them.
- pinfo's text and markdown output sort the warnings per path specification with
  ``Counter.most_common``; releases that count them in ``WarningCount`` containers
  (20260720) cannot order those, so pinfo stops with a ``TypeError`` as soon as two
  files have warnings, before it shows any warning. Such a ``WarningCount`` gets
  the order of its ``number_of_events`` (see ``AddWarningCountOrder``).
"""


def _ProduceWarning(self, message, path_spec=None, recovered=False):
    """Produces an extraction or recovery warning, with plaso's older methods.

    Args:
      self (ParserMediator): parser mediator.
      message (str): message of the warning.
      path_spec (Optional[dfvfs.PathSpec]): path specification, where None uses
          that of the current file entry.
      recovered (Optional[bool]): True if the item was recovered.
    """
    if recovered:
        self.ProduceRecoveryWarning(message, path_spec=path_spec)
    else:
        self.ProduceExtractionWarning(message, path_spec=path_spec)


def AddProduceWarning(mediator_class):
    """Gives a parser mediator class without ProduceWarning one.

    Args:
      mediator_class (type): parser mediator class.

    Returns:
      bool: True if the method was added, False if the class had it.
    """
    if hasattr(mediator_class, "ProduceWarning"):
        return False
    mediator_class.ProduceWarning = _ProduceWarning
    return True


def _WarningCountLessThan(self, other):
    """Orders warning counts by their number, as pinfo's most_common needs."""
    if not isinstance(other, type(self)):
        return NotImplemented
    return (self.number_of_events or 0) < (other.number_of_events or 0)


def AddWarningCountOrder(count_class):
    """Gives a warning count container class without an order one.

    Args:
      count_class (type): plaso's WarningCount attribute container class.

    Returns:
      bool: True if the order was added, False if the class had one.
    """
    if count_class.__lt__ is not object.__lt__:
        return False
    count_class.__lt__ = _WarningCountLessThan
    return True


def InstallPinfo():
    """Adds what pinfo needs to show warnings; calling it twice is harmless.

    Returns:
      list[str]: names of the methods added, empty where plaso needs none.
    """
    # pylint: disable=import-outside-toplevel
    from plaso.containers import counts

    count_class = getattr(counts, "WarningCount", None)  # only in newer releases
    if count_class is not None and AddWarningCountOrder(count_class):
        return ["WarningCount.__lt__"]
    return []


def Install():
    """Adds what the parser needs and this plaso lacks; calling it twice is harmless.

    Returns:
      list[str]: names of the methods added, empty with a current plaso.
    """
    # Imported here: pinfo, which needs only InstallPinfo, imports no parser.
    # pylint: disable=import-outside-toplevel
    from plaso.parsers import mediator as parsers_mediator

    added = []
    if AddProduceWarning(parsers_mediator.ParserMediator):
        added.append("ParserMediator.ProduceWarning")
    return added
