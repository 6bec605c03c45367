import subprocess
import sys

from essl.cli.allocator import TUNABLES, fast_allocator_env


def test_help_does_not_import_torch():
    code = (
        "import sys\n"
        "from essl.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'essl --help imported torch'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_every_subcommand_help_works_without_torch():
    from essl.cli.main import GROUPS

    for group in GROUPS:
        code = (
            "import sys\nfrom essl.cli.main import main\n"
            f"try:\n    main(['{group}', '--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules\n"
        )
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_allocator_tunables_are_added_once_and_respect_opt_outs():
    env = fast_allocator_env({"PATH": "/bin"})
    assert env is not None and env["GLIBC_TUNABLES"] == TUNABLES
    assert fast_allocator_env(env) is None  # already applied: no second re-exec
    assert fast_allocator_env({"ESSL_ALLOCATOR": "system"}) is None
    assert fast_allocator_env({"LD_PRELOAD": "/usr/lib/libtcmalloc.so"}) is None
    merged = fast_allocator_env({"GLIBC_TUNABLES": "glibc.cpu.x=1"})
    assert merged is not None and merged["GLIBC_TUNABLES"] == f"glibc.cpu.x=1:{TUNABLES}"


def test_user_errors_exit_2_with_a_message_and_no_traceback(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "essl", "corpus", "validate", str(tmp_path / "none.jsonl")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2, r.stderr
    assert "essl: error:" in r.stderr and "Traceback" not in r.stderr
