"""The registrar child gives up in bounded time when the endpoint is unreachable,
so the generation's own backoff (and its failure after a few registrar failures) applies."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

from swfd.testing import free_port


def test_registrar_gives_up_on_an_unreachable_endpoint(tmp_path):
    config = tmp_path / "swfd.ini"
    config.write_text(textwrap.dedent(f"""\
        [swfd]
        domain = unreachable
        endpoint_url = http://127.0.0.1:{free_port()}
        register = yes
        plugins =
        graceful_timeout = 75

        [worker:default]
        task_list = default
        processes = 1
        """))
    script = textwrap.dedent(f"""\
        import sys
        from swfd.generation import registrar_main
        from swfd.config import load
        from swfd.plugins import load_plugins
        settings = load({str(config)!r})
        sys.exit(registrar_main(settings, load_plugins(settings)))
        """)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False,
                          timeout=120, env={"SWFD_DISABLE_PLUGIN_AUTOLOAD": "1",
                                            "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
                                            "PATH": "/usr/bin:/bin"})
    assert done.returncode == 1, done.stderr
    assert "registering domain 'unreachable' and its types failed" in done.stderr
    assert done.stderr.count("retry") >= 1, done.stderr
    assert time.monotonic() - started < 100
