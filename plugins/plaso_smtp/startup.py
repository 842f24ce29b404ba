"""Start-up hook that teaches the stock plaso tools about the pcap parser.

plaso has no plugin discovery: a parser exists in a process only if its module was
imported there, and its timeliner and formatter definitions are read from plaso's own
data files. ``plaso_smtp_startup.pth`` (installed into site-packages) imports this
module when any Python interpreter of the environment starts, including the worker
processes of log2timeline (fork inherits the hook; forkserver and spawn start a new
interpreter, which reads the .pth file again).

Start-up cost is one small module and one entry in ``sys.meta_path``: plaso itself is
not imported. When a process imports one of the plaso modules named in
``_POST_IMPORT_HOOKS``, the module is executed as usual and then handed to the
matching function of :mod:`plaso_smtp.integration`, which registers the parser or
extends plaso's configuration in memory. Setting ``PLASO_SMTP_DISABLE=1`` turns the
hook off.
"""

import os
import sys

DISABLE_VARIABLE = "PLASO_SMTP_DISABLE"

# Module name: name of the function in plaso_smtp.integration called after the module
# was executed.
_POST_IMPORT_HOOKS = {
    "plaso.parsers": "RegisterParsers",
    "plaso.parsers.presets": "ExtendPresets",
    "plaso.engine.timeliner": "ExtendTimeliner",
    "plaso.output.mediator": "ExtendMessageFormatters",
    "plaso.cli.pinfo_tool": "ExtendPinfo",
}


def IsDisabled():
    """Determines if the user switched the hook off.

    Returns:
      bool: True if PLASO_SMTP_DISABLE is set to a value other than "" or "0".
    """
    return os.environ.get(DISABLE_VARIABLE, "") not in ("", "0")


def _RunHook(module_name):
    """Runs the integration function for a module that has just been executed.

    Args:
      module_name (str): name of the plaso module.
    """
    try:
        # Imported here, not at start-up: it imports plaso.
        from plaso_smtp import integration  # pylint: disable=import-outside-toplevel

        getattr(integration, _POST_IMPORT_HOOKS[module_name])()

    except Exception as exception:  # pylint: disable=broad-except
        # A broken plaso-smtp must not take the stock plaso tools down with it.
        sys.stderr.write(
            f"WARNING: plaso-smtp unable to extend {module_name:s}: "
            f"{type(exception).__name__:s}: {exception!s}\n"
        )


class _HookedLoader:
    """Loader that runs a post-import hook once the real loader executed a module."""

    def __init__(self, loader, module_name):
        """Initializes a hooked loader.

        Args:
          loader (importlib.abc.Loader): loader found by the other finders.
          module_name (str): name of the module being imported.
        """
        self._loader = loader
        self._module_name = module_name

    def __getattr__(self, name):
        """Passes everything else, such as get_resource_reader, to the real loader."""
        return getattr(self._loader, name)

    def create_module(self, spec):
        """Creates the module with the real loader.

        Args:
          spec (importlib.machinery.ModuleSpec): module specification.

        Returns:
          module: module or None to use the default module creation.
        """
        return self._loader.create_module(spec)

    def exec_module(self, module):
        """Executes the module with the real loader, then runs the hook.

        Args:
          module (module): module to execute.
        """
        # Hand the module back to the real loader, so that the hook leaves no trace.
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader

        self._loader.exec_module(module)
        _RunHook(self._module_name)


class PostImportFinder:
    """Meta path finder that wraps the loaders of the plaso modules we extend."""

    def find_spec(self, fullname, path=None, target=None):
        """Finds the module specification with the other finders and wraps its loader.

        Args:
          fullname (str): name of the module being imported.
          path (Optional[list[str]]): search path of the parent package.
          target (Optional[module]): module being reloaded.

        Returns:
          importlib.machinery.ModuleSpec: module specification or None to let the
              other finders handle the import.
        """
        if fullname not in _POST_IMPORT_HOOKS:
            return None

        for finder in sys.meta_path:
            if isinstance(finder, PostImportFinder):
                continue

            find_spec = getattr(finder, "find_spec", None)
            if find_spec is None:
                continue

            spec = find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None

        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec

        spec.loader = _HookedLoader(spec.loader, fullname)
        return spec


def Install():
    """Installs the post-import hook, or runs the hooks of modules already imported.

    Calling this more than once has no further effect. Does nothing when
    PLASO_SMTP_DISABLE is set.
    """
    if IsDisabled():
        return

    if not any(isinstance(finder, PostImportFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, PostImportFinder())

    # When plaso was imported before this function ran (for example the hook was
    # switched off at start-up and a test installs it later), extend it now.
    for module_name in _POST_IMPORT_HOOKS:
        if module_name in sys.modules:
            _RunHook(module_name)
