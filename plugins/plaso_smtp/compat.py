"""Differences between the plaso releases plaso-smtp supports, bridged at run time.

plaso-smtp supports plaso 20240308 (the release Turbinia pins) to the newest. The
parser is written against the newest API; where an older plaso lacks a method the
parser calls, this module adds it, detected by the method's presence, not by the
version string. It changes plaso only in memory.

Differences bridged:

- ``ParserMediator.ProduceWarning(message, path_spec=None, recovered=False)``
  replaced ``ProduceExtractionWarning`` and ``ProduceRecoveryWarning`` (after
  20240308). Older releases get a ``ProduceWarning`` that calls them.
"""

from plaso.parsers import mediator as parsers_mediator


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


def Install():
    """Adds what the parser needs and this plaso lacks; calling it twice is harmless.

    Returns:
      list[str]: names of the methods added, empty with a current plaso.
    """
    added = []
    if AddProduceWarning(parsers_mediator.ParserMediator):
        added.append("ParserMediator.ProduceWarning")
    return added
