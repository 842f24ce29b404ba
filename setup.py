"""Build hook: installs plaso_smtp_startup.pth into site-packages.

Everything else is configured in pyproject.toml. The .pth file makes the stock plaso
tools load the pcap parser (see plugins/plaso_smtp/README.md). A .pth file must sit
at the top of site-packages, which package data cannot reach, so build_py copies it
there: into the build directory for a normal wheel, and into the unpacked editable
wheel for ``pip install -e .`` (setuptools leaves build_py's files out of editable
wheels, but adds everything in install_lib).
"""

import os

from setuptools import setup
from setuptools.command.build_py import build_py

PTH_FILE_NAME = "plaso_smtp_startup.pth"
PTH_SOURCE_PATH = os.path.join("plugins", "plaso_smtp", PTH_FILE_NAME)


class BuildPyWithStartupHook(build_py):
    """build_py that also puts the start-up hook next to the packages."""

    def _GetPthTargetDirectory(self):
        """Returns the directory whose content becomes the root of the wheel."""
        if getattr(self, "editable_mode", False):
            return self.get_finalized_command("install").install_lib
        return self.build_lib

    def run(self):
        """Builds the packages, then copies the .pth file."""
        super().run()
        target_directory = self._GetPthTargetDirectory()
        self.mkpath(target_directory)
        self.copy_file(
            PTH_SOURCE_PATH,
            os.path.join(target_directory, PTH_FILE_NAME),
            preserve_mode=False,
        )

    def get_outputs(self, include_bytecode=True):
        """Lists the built files, including the .pth file of a normal build."""
        outputs = super().get_outputs(include_bytecode=include_bytecode)
        if not getattr(self, "editable_mode", False):
            outputs.append(os.path.join(self.build_lib, PTH_FILE_NAME))
        return outputs


setup(cmdclass={"build_py": BuildPyWithStartupHook})
