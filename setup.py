"""Build hook: installs plaso_smtp_startup.pth into site-packages.

Everything else is configured in pyproject.toml. The .pth file makes the stock plaso
tools load the pcap parser (see plugins/plaso_smtp/README.md). A .pth file must sit
at the top of site-packages, which package data cannot reach, so build_py copies it
there: into the build directory for a normal wheel, and into the unpacked editable
wheel for ``pip install -e .`` (setuptools leaves build_py's files out of editable
wheels, but adds everything in install_lib).

The compiled hot path (smtpcore/_flowskip.pyx and _fastpath.pyx, built with Cython and the machine's C
compiler) is optional: when it cannot be built, its pure-Python twin in
smtpcore/flowskip.py, capture.py, packets.py and smtp/session.py gives the same results (``SMTPCORE_PURE=1`` selects it at run
time, ``SMTPCORE_PURE_BUILD=1`` skips the build).

The report's templates are compiled at build time too, into
smtpcore/report/templates/*.jbc (beside the sources for ``pip install -e .``): runs
load them instead of compiling them, and compile afresh whatever does not match.
"""

import os
import pathlib
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

PTH_FILE_NAME = "plaso_smtp_startup.pth"
PTH_SOURCE_PATH = os.path.join("plugins", "plaso_smtp", PTH_FILE_NAME)
TEMPLATES_PATH = "smtpcore/report/templates"


class BuildPyWithStartupHook(build_py):
    """build_py that also puts the start-up hook next to the packages."""

    def _GetPthTargetDirectory(self):
        """Returns the directory whose content becomes the root of the wheel."""
        if getattr(self, "editable_mode", False):
            return self.get_finalized_command("install").install_lib
        return self.build_lib

    def run(self):
        """Builds the packages, then copies the .pth file and compiles the report's
        templates."""
        super().run()
        target_directory = self._GetPthTargetDirectory()
        self.mkpath(target_directory)
        self.copy_file(
            PTH_SOURCE_PATH,
            os.path.join(target_directory, PTH_FILE_NAME),
            preserve_mode=False,
        )
        self._CompileTemplates()

    def _CompileTemplates(self):
        """The report's templates compiled beside them, so that runs do not compile
        them (smtpcore.report._BuiltBytecode); without, runs compile them."""
        source_root = os.path.dirname(os.path.abspath(__file__))
        editable = getattr(self, "editable_mode", False)
        directory = os.path.join(
            source_root if editable else self.build_lib, TEMPLATES_PATH
        )
        sys.path.insert(0, source_root)
        try:
            from smtpcore import report

            self.mkpath(directory)
            for name in report.compile_templates(pathlib.Path(directory)):
                print(f"smtpcore: compiled {TEMPLATES_PATH}/{name}")
        except Exception as error:  # no Jinja at build time: runs compile them
            print(f"smtpcore: report templates not compiled ({error})")
        finally:
            sys.path.pop(0)

    def get_outputs(self, include_bytecode=True):
        """Lists the built files, including the .pth file of a normal build."""
        outputs = super().get_outputs(include_bytecode=include_bytecode)
        if not getattr(self, "editable_mode", False):
            outputs.append(os.path.join(self.build_lib, PTH_FILE_NAME))
        return outputs


class OptionalBuildExt(build_ext):
    """Builds the compiled hot path, or goes on without it (pure Python)."""

    def run(self):
        try:
            super().run()
        except Exception as error:  # no compiler, no headers: pure Python it is
            print(f"smtpcore: compiled hot path not built ({error}); using pure Python")

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as error:
            print(f"smtpcore: {ext.name} not built ({error}); using pure Python")


def _extensions():
    """The Cython modules, unless SMTPCORE_PURE_BUILD=1 or Cython is missing."""
    if os.environ.get("SMTPCORE_PURE_BUILD", "") not in ("", "0"):
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        return []
    return cythonize(
        [
            Extension("smtpcore._flowskip", ["smtpcore/_flowskip.pyx"]),
            Extension("smtpcore._fastpath", ["smtpcore/_fastpath.pyx"]),
        ],
        compiler_directives={"language_level": 3},
        quiet=True,
    )


setup(
    cmdclass={"build_py": BuildPyWithStartupHook, "build_ext": OptionalBuildExt},
    ext_modules=_extensions(),
)
