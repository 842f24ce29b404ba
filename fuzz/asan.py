"""Fuzz targets against the compiled modules built with AddressSanitizer: `asan.py SECONDS [TARGET...]`.

atheris's documented way for native extensions: every smtpcore/*.pyx is compiled
with clang and -fsanitize=address,fuzzer-no-link into a copy of the package under
/dev/shm (the checkout's own build is left alone), and fuzz/run.py runs with that
copy first on PYTHONPATH and atheris's asan_with_fuzzer.so preloaded, which brings
ASan's runtime and libFuzzer, so the native code's edges guide the fuzzer too. A
memory error aborts the target with an ASan report in its log: a finding.

Needs clang (CLANG=clang-15 by default, the Debian package); Python's own
allocations are not checked (the interpreter is not instrumented), and leak
detection is off, since the interpreter keeps its objects until exit.
"""

import glob
import os
import shutil
import subprocess
import sys

import _common

BUILD = "/dev/shm/smtpcore-asan"
DEFAULT_TARGETS = ("fastpath", "handshakes", "flowskip", "packets", "capture", "pipeline")
FLAGS = "-fsanitize=address,fuzzer-no-link -fno-omit-frame-pointer -g -O1"


def build(clang: str) -> list[str]:
    """Copies smtpcore into BUILD and compiles its .pyx files there; returns them."""
    from Cython.Build import cythonize
    from setuptools import Extension
    from setuptools.dist import Distribution

    shutil.rmtree(BUILD, ignore_errors=True)
    shutil.copytree(
        os.path.join(_common.ROOT, "smtpcore"),
        os.path.join(BUILD, "smtpcore"),
        ignore=shutil.ignore_patterns("*.so", "*.c", "__pycache__"),
    )
    sources = sorted(
        glob.glob(os.path.join(BUILD, "smtpcore", "**", "*.pyx"), recursive=True)
    )
    modules = [
        Extension(
            os.path.relpath(source, BUILD)[: -len(".pyx")].replace(os.sep, "."),
            [source],
        )
        for source in sources
    ]
    os.environ.update(
        CC=clang, LDSHARED=f"{clang} -shared", CFLAGS=FLAGS, LDFLAGS=FLAGS
    )
    distribution = Distribution(
        {
            "ext_modules": cythonize(
                modules,
                compiler_directives={"language_level": 3},
                include_path=[BUILD],  # cimports between the modules (.pxd)
                quiet=True,
            )
        }
    )
    command = distribution.get_command_obj("build_ext")
    command.build_lib = BUILD
    command.build_temp = os.path.join(BUILD, "temp")
    command.ensure_finalized()
    command.run()
    built = sorted(
        glob.glob(os.path.join(BUILD, "smtpcore", "**", "*.so"), recursive=True)
    )
    if len(built) != len(sources):
        raise SystemExit(f"asan: {len(sources)} .pyx but {len(built)} modules built")
    return built


def main():
    import atheris

    seconds = sys.argv[1]
    targets = sys.argv[2:] or DEFAULT_TARGETS
    clang = os.environ.get("CLANG", "clang-15")
    if shutil.which(clang) is None:
        raise SystemExit(
            f"asan: {clang} not found (apt-get install clang, or set CLANG)"
        )
    modules = []
    for path in build(clang):
        print(f"asan: built {os.path.relpath(path, BUILD)}", flush=True)
        modules.append(os.path.relpath(path, BUILD).split(".")[0].replace(os.sep, "."))
    env = dict(os.environ)
    for name in ("CC", "LDSHARED", "CFLAGS", "LDFLAGS"):
        env.pop(name, None)
    env["LD_PRELOAD"] = os.path.join(atheris.path(), "asan_with_fuzzer.so")
    env["ASAN_OPTIONS"] = "detect_leaks=0:allocator_may_return_null=1"
    env["PYTHONPATH"] = os.pathsep.join(
        [BUILD] + env.get("PYTHONPATH", "").split(os.pathsep)
    )
    check = (  # the compiled modules of the copy are the ones in use
        "import importlib, smtpcore.flowskip as f; assert f.COMPILED\n"
        f"for name in {modules!r}:\n"
        f"    path = importlib.import_module(name).__file__\n"
        f"    assert path.startswith({BUILD!r}), path"
    )
    # Run from BUILD: `python -c` puts the working folder first on sys.path, and
    # from the checkout that is the checkout's own smtpcore.
    subprocess.check_call([sys.executable, "-c", check], env=env, cwd=BUILD)
    if seconds == "0":  # build and check only
        return 0
    return subprocess.call(
        [sys.executable, os.path.join(_common.HERE, "run.py"), seconds, *targets],
        env=env,
    )


if __name__ == "__main__":
    sys.exit(main())
