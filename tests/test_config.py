"""swfd.config: typed settings from the INI file, and an error for every bad value."""

from __future__ import annotations

import dataclasses
import os
import socket

import pytest

from swfd.config import ConfigError, EmbeddedSettings, Settings, expand_identity, load

BASE: dict[str, dict[str, str]] = {
    "swfd": {"domain": "boto_tutorial", "region": "us-east-1"},
    "decider:main": {"task_list": "default", "processes": "1"},
    "worker:default": {"task_list": "default", "processes": "2"},
}


def render(sections: dict[str, dict[str, str]]) -> str:
    lines: list[str] = []
    for section, keys in sections.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {value}" for key, value in keys.items())
        lines.append("")
    return "\n".join(lines)


def write(tmp_path, sections=None, text=None, name="swfd.ini") -> str:
    path = tmp_path / name
    path.write_text(text if text is not None else render(sections or BASE))
    return str(path)


def with_key(section: str, key: str, value: str) -> dict[str, dict[str, str]]:
    sections = {name: dict(keys) for name, keys in BASE.items()}
    sections.setdefault(section, {})[key] = value
    return sections


def load_error(path: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(path)
    message = str(info.value)
    assert message.startswith(path), message
    return message


# --------------------------------------------------------------------------- happy paths


def test_design_example_loads_with_every_key_typed(tmp_path):
    path = write(tmp_path, text="""\
[swfd]
domain = boto_tutorial
region = us-east-1
# endpoint_url: omit for AWS; "embedded" for the local endpoint; or any SWF URL
endpoint_url = embedded
# identity sent to SWF, expanded in each child: {hostname} {pid} {pool}
identity = {hostname}:{pid}
plugins = tutorial
graceful_timeout = 120
pidfile = /run/swfd/swfd.pid
log_format = json
log_level = INFO

[embedded]
host = 127.0.0.1
port = 8799
database = /var/lib/swfd/local.sqlite3
; seconds an empty poll waits (SWF: 60); tests use ~2
poll_timeout = 60

[decider:main]
task_list = default
processes = 1
decider_max_attempts = 5

[worker:default]
task_list = default
processes = 2
heartbeat_interval = 30
max_tasks_per_child = 1000
max_memory_per_child = 512MB
""")
    settings = load(path)
    assert settings.path == path
    assert settings.domain == "boto_tutorial"
    assert settings.endpoint_url == "embedded" and settings.is_embedded
    assert settings.plugins == ("tutorial",)
    assert settings.graceful_timeout == 120.0
    assert settings.pidfile == "/run/swfd/swfd.pid"
    assert (settings.log_format, settings.log_level) == ("json", "INFO")
    assert settings.register is True  # always with embedded
    assert settings.retention_days == 1
    assert settings.embedded == EmbeddedSettings(
        "127.0.0.1", 8799, "/var/lib/swfd/local.sqlite3", 60.0
    )
    assert settings.poll_timeout == 60.0
    decider, worker = settings.pools
    assert (decider.kind, decider.name, decider.section) == ("decider", "main", "decider:main")
    assert decider.decider_max_attempts == 5
    assert (worker.kind, worker.name, worker.task_list, worker.processes) == (
        "worker", "default", "default", 2,
    )
    assert worker.heartbeat_interval == 30.0
    assert worker.max_tasks_per_child == 1000
    assert worker.max_memory_per_child == 512 * 1000**2
    assert settings.pools_of("worker") == (worker,)


def test_settings_are_immutable(tmp_path):
    settings = load(write(tmp_path))
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.domain = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.pools[0].processes = 9  # type: ignore[misc]
    assert isinstance(settings.pools, tuple)


def test_defaults_for_aws(tmp_path):
    settings = load(write(tmp_path))
    assert isinstance(settings, Settings)
    assert settings.endpoint_url is None and not settings.is_embedded
    assert settings.poll_timeout == 60.0
    assert settings.graceful_timeout == 120.0
    assert settings.identity == "{hostname}:{pid}"
    assert settings.plugins is None  # every installed plugin
    assert settings.register is False
    assert settings.retention_days == 1
    assert settings.pidfile is None
    assert (settings.log_format, settings.log_level) == ("json", "INFO")
    worker = settings.pools_of("worker")[0]
    assert worker.heartbeat_interval == 30.0
    assert worker.max_tasks_per_child is None and worker.max_memory_per_child is None
    assert settings.pools_of("decider")[0].decider_max_attempts is None


def test_embedded_defaults_when_section_absent(tmp_path):
    path = write(tmp_path, with_key("swfd", "endpoint_url", "embedded"))
    settings = load(path)
    assert settings.is_embedded
    assert settings.embedded == EmbeddedSettings(
        "127.0.0.1", 8799, str(tmp_path / "local.sqlite3"), 60.0
    )
    assert settings.register is True


def test_register_is_forced_on_with_embedded(tmp_path):
    sections = with_key("swfd", "endpoint_url", "embedded")
    sections["swfd"]["register"] = "no"
    assert load(write(tmp_path, sections)).register is True


def test_register_and_retention_against_aws(tmp_path):
    sections = with_key("swfd", "register", "yes")
    sections["swfd"]["retention_days"] = "90"
    settings = load(write(tmp_path, sections))
    assert settings.register is True and settings.retention_days == 90


def test_embedded_poll_timeout_sets_poll_timeout_and_default_graceful_timeout(tmp_path):
    sections = with_key("swfd", "endpoint_url", "embedded")
    sections["embedded"] = {"poll_timeout": "2"}
    settings = load(write(tmp_path, sections))
    assert settings.poll_timeout == 2.0
    assert settings.graceful_timeout == 120.0


def test_relative_paths_resolve_against_the_config_directory(tmp_path, monkeypatch):
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    monkeypatch.chdir(tmp_path)  # not the config's directory
    sections = with_key("swfd", "endpoint_url", "embedded")
    sections["swfd"]["pidfile"] = "run/swfd.pid"
    sections["embedded"] = {"database": "../var/local.sqlite3"}
    settings = load(write(conf_dir, sections))
    assert settings.pidfile == str(conf_dir / "run" / "swfd.pid")
    assert settings.embedded.database == str(tmp_path / "var" / "local.sqlite3")


def test_relative_config_path_is_made_absolute(tmp_path, monkeypatch):
    write(tmp_path)
    monkeypatch.chdir(tmp_path)
    settings = load("swfd.ini")
    assert settings.path == str(tmp_path / "swfd.ini")


def test_memory_database_is_kept(tmp_path):
    sections = with_key("embedded", "database", ":memory:")
    assert load(write(tmp_path, sections)).embedded.database == ":memory:"


@pytest.mark.parametrize(("value", "low", "high"),
                         [("4", 4, None), ("2..16", 2, 16), ("1 .. 1", 1, 1)])
def test_processes_fixed_or_an_autoscaled_range(tmp_path, value, low, high):
    pool = load(write(tmp_path, with_key("worker:default", "processes", value))).pools_of(
        "worker")[0]
    assert (pool.processes, pool.processes_max) == (low, high)


@pytest.mark.parametrize("value", ["16..2", "0..4", "2..", "a..b", "2..2000"])
def test_bad_process_ranges_are_named(tmp_path, value):
    message = load_error(write(tmp_path, with_key("worker:default", "processes", value)))
    assert f"processes = {value!r}" in message and "2..16" in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("536870912", 536870912),
        ("512MB", 512 * 1000**2),
        ("512mb", 512 * 1000**2),
        ("512MiB", 512 * 1024**2),
        ("1GiB", 1024**3),
        ("1G", 1024**3),
        ("64K", 64 * 1024),
        ("2 GB", 2 * 1000**3),
        ("1.5GiB", int(1.5 * 1024**3)),
        ("100B", 100),
    ],
)
def test_sizes(tmp_path, value, expected):
    path = write(tmp_path, with_key("worker:default", "max_memory_per_child", value))
    assert load(path).pools_of("worker")[0].max_memory_per_child == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", ()), ("tutorial", ("tutorial",)), ("a, b c,d", ("a", "b", "c", "d"))],
)
def test_plugins_list(tmp_path, value, expected):
    assert load(write(tmp_path, with_key("swfd", "plugins", value))).plugins == expected


@pytest.mark.parametrize(("value", "expected"), [("debug", "DEBUG"), ("Warn", "WARNING")])
def test_log_level_is_normalised(tmp_path, value, expected):
    assert load(write(tmp_path, with_key("swfd", "log_level", value))).log_level == expected


@pytest.mark.parametrize(
    "value", ["https://swf.eu-west-1.amazonaws.com", "http://127.0.0.1:8799", "http://h:1/p"]
)
def test_endpoint_urls(tmp_path, value):
    assert load(write(tmp_path, with_key("swfd", "endpoint_url", value))).endpoint_url == value


def test_identity_expansion(tmp_path):
    template = "{hostname}-{pid}-{pool}-{{x}}"
    settings = load(write(tmp_path, with_key("swfd", "identity", template)))
    expected = f"{socket.gethostname()}-{os.getpid()}-default-{{x}}"
    assert expand_identity(settings.identity, "default") == expected


def test_identity_expansion_stays_within_swf_limit():
    assert len(expand_identity("{pool}" * 3, "p" * 100)) == 256


def test_graceful_timeout_exactly_ten_seconds_above_poll_is_accepted(tmp_path):
    sections = with_key("swfd", "graceful_timeout", "70")
    assert load(write(tmp_path, sections)).graceful_timeout == 70.0
    sections = with_key("swfd", "endpoint_url", "embedded")
    sections["swfd"]["graceful_timeout"] = "12"
    sections["embedded"] = {"poll_timeout": "2"}
    assert load(write(tmp_path, sections)).graceful_timeout == 12.0


def test_comment_lines_are_allowed(tmp_path):
    text = render(BASE).replace("[swfd]\n", "[swfd]\n# a comment\n; another\n")
    assert load(write(tmp_path, text=text)).domain == "boto_tutorial"


# --------------------------------------------------------------------------- error matrix

BAD_VALUES = [
    # (section, key, value, expected fragment of the message)
    ("swfd", "domain", "a:b", "expected an SWF name"),
    ("swfd", "domain", "a/b", "expected an SWF name"),
    ("swfd", "domain", "a|b", "expected an SWF name"),
    ("swfd", "domain", "arn", "not 'arn'"),
    ("swfd", "domain", "x" * 257, "1-256 characters"),
    ("swfd", "region", "US East", "expected an AWS region name"),
    ("swfd", "endpoint_url", "ftp://host", "expected 'embedded' or an http(s) URL"),
    ("swfd", "endpoint_url", "localhost:8799", "expected 'embedded' or an http(s) URL"),
    ("swfd", "endpoint_url", "http://h:99999", "expected 'embedded' or an http(s) URL"),
    ("swfd", "endpoint_url", "http://", "expected 'embedded' or an http(s) URL"),
    ("swfd", "identity", "{host}", "only {hostname}, {pid} and {pool}"),
    ("swfd", "identity", "{}", "only {hostname}, {pid} and {pool}"),
    ("swfd", "identity", "{pid!r}", "only {hostname}, {pid} and {pool}"),
    ("swfd", "identity", "{pid:>9}", "only {hostname}, {pid} and {pool}"),
    ("swfd", "identity", "{hostname", "only {hostname}, {pid} and {pool}"),
    ("swfd", "identity", "x" * 300, "at most 256 characters once expanded"),
    ("swfd", "plugins", "tutorial, tutorial", "each plugin listed once"),
    ("swfd", "plugins", "a=b", "entry-point names"),
    ("swfd", "graceful_timeout", "soon", "expected a number of seconds"),
    ("swfd", "graceful_timeout", "-5", "expected a positive number of seconds"),
    ("swfd", "graceful_timeout", "nan", "expected a positive number of seconds"),
    ("swfd", "graceful_timeout", "120s", "no unit"),
    ("swfd", "graceful_timeout", "65", "expected at least 70 seconds"),
    ("swfd", "pidfile", "", "the key is present but empty"),
    ("swfd", "log_format", "xml", "expected one of json, text"),
    ("swfd", "log_level", "LOUD", "expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    ("swfd", "register", "maybe", "expected yes or no"),
    ("swfd", "retention_days", "91", "from 0 to 90"),
    ("swfd", "retention_days", "-1", "from 0 to 90"),
    ("swfd", "retention_days", "one", "from 0 to 90"),
    ("embedded", "host", "local host", "expected a host name or IP address"),
    ("embedded", "port", "-1", "expected a TCP port number from 1 to 65535, or 0 for any"),
    ("embedded", "port", "65536", "expected a TCP port number from 1 to 65535, or 0 for any"),
    ("embedded", "port", "http", "expected a TCP port number from 1 to 65535, or 0 for any"),
    ("embedded", "poll_timeout", "0", "expected a positive number of seconds"),
    ("embedded", "poll_timeout", "61", "at most 60"),
    ("embedded", "poll_timeout", "1m", "expected a number of seconds"),
    ("decider:main", "task_list", "a:b", "expected an SWF name"),
    ("decider:main", "task_list", "", "the key is present but empty"),
    ("decider:main", "processes", "0", "expected a positive integer"),
    ("decider:main", "processes", "1.5", "expected a positive integer"),
    ("decider:main", "decider_max_attempts", "0", "expected a positive integer"),
    ("decider:main", "decider_max_attempts", "many", "expected a positive integer"),
    ("worker:default", "task_list", "x" * 257, "1-256 characters"),
    ("worker:default", "task_list", "a\x07b", "control characters"),
    ("worker:default", "processes", "two", "expected a positive integer"),
    ("worker:default", "processes", "-1", "expected a positive integer"),
    ("worker:default", "processes", "5000", "at most 1024"),
    ("worker:default", "heartbeat_interval", "0", "expected a positive number of seconds"),
    ("worker:default", "heartbeat_interval", "often", "expected a number of seconds"),
    ("worker:default", "max_tasks_per_child", "0", "expected a positive integer"),
    ("worker:default", "max_tasks_per_child", "lots", "expected a positive integer"),
    ("worker:default", "max_memory_per_child", "512XB", "expected a size in bytes"),
    ("worker:default", "max_memory_per_child", "-1MB", "expected a size in bytes"),
    ("worker:default", "max_memory_per_child", "0", "expected a positive size"),
    ("worker:default", "max_memory_per_child", "lots", "expected a size in bytes"),
]


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    BAD_VALUES,
    ids=[f"{s}.{k}={v[:12]!r}" for s, k, v, _ in BAD_VALUES],
)
def test_bad_value_names_file_section_key_value_and_expectation(
    tmp_path, section, key, value, expected
):
    path = write(tmp_path, with_key(section, key, value))
    message = load_error(path)
    assert f"{path}: [{section}] {key} = {value!r}: expected" in message
    assert expected in message


def test_error_message_matches_documented_shape(tmp_path):
    path = write(tmp_path, with_key("worker:default", "processes", "two"))
    assert load_error(path) == (f"{path}: [worker:default] processes = 'two': expected a "
                                "positive integer, at most 1024, or a range such as 2..16")


def test_every_problem_is_reported_at_once(tmp_path):
    sections = with_key("worker:default", "processes", "two")
    sections["swfd"]["log_level"] = "LOUD"
    sections["decider:main"]["procesess"] = "1"
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, sections))
    assert len(info.value.problems) == 3
    assert len(str(info.value).splitlines()) == 3


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("worker:default", "processes", "2  # two"),
        ("worker:default", "processes", "2 ; two"),
        ("embedded", "port", "8799 # the port"),
        ("swfd", "graceful_timeout", "120 # seconds"),
        ("worker:default", "task_list", "default # the list"),
    ],
)
def test_inline_comments_are_rejected_with_a_hint(tmp_path, section, key, value):
    path = write(tmp_path, with_key(section, key, value))
    message = load_error(path)
    assert f"[{section}] {key} = {value!r}: expected" in message
    assert "comments must stand on their own lines" in message


@pytest.mark.parametrize(
    ("section", "key", "suggestion"),
    [
        ("swfd", "domian", "did you mean 'domain'?"),
        ("swfd", "log-level", "did you mean 'log_level'?"),
        ("swfd", "poll_timeout", "'poll_timeout' belongs in [embedded]"),
        ("embedded", "prot", "did you mean 'port'?"),
        ("decider:main", "procesess", "did you mean 'processes'?"),
        ("decider:main", "heartbeat_interval", "'heartbeat_interval' belongs in [worker:NAME]"),
        ("worker:default", "max_task_per_child", "did you mean 'max_tasks_per_child'?"),
        ("worker:default", "decider_max_attempts", "belongs in [decider:NAME]"),
        ("worker:default", "zzz", "known keys: give_up_after, heartbeat_interval"),
        ("swfd", "aws_secret_access_key", "known keys:"),
    ],
)
def test_unknown_keys_are_errors_with_a_suggestion(tmp_path, section, key, suggestion):
    path = write(tmp_path, with_key(section, key, "1"))
    message = load_error(path)
    assert f"{path}: [{section}] {key}: unknown key" in message
    assert suggestion in message


@pytest.mark.parametrize(
    ("section", "suggestion"),
    [
        ("workers:default", "did you mean [worker:default]?"),
        ("decidr:main", "did you mean [decider:main]?"),
        ("embeded", "did you mean [embedded]?"),
        ("SWFD", "did you mean [swfd]?"),
        ("DEFAULT", "known sections: [swfd], [embedded], [decider:NAME], [worker:NAME]"),
        ("logging", "known sections:"),
    ],
)
def test_unknown_sections_are_errors_with_a_suggestion(tmp_path, section, suggestion):
    sections = dict(BASE)
    sections[section] = {"x": "1"}
    path = write(tmp_path, sections)
    message = load_error(path)
    assert f"{path}: [{section}]: unknown section" in message
    assert suggestion in message


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("worker", "a pool section needs a name, e.g. [worker:default]"),
        ("decider:", "pool name '': expected 1-64 letters"),
        ("worker:a b", "pool name 'a b': expected 1-64 letters"),
        ("worker:-x", "pool name '-x'"),
    ],
)
def test_bad_pool_section_names(tmp_path, section, expected):
    sections = dict(BASE)
    sections[section] = {"task_list": "t"}
    message = load_error(write(tmp_path, sections))
    assert f"[{section}]" in message and expected in message


def test_pool_names_are_unique_per_kind(tmp_path):
    text = render(BASE) + "\n[worker: default]\ntask_list = other\n"
    message = load_error(write(tmp_path, text=text))
    assert "[worker: default]: pool name 'default' is already used by [worker:default]" in message


def test_same_pool_name_for_a_decider_and_a_worker_is_fine(tmp_path):
    sections = dict(BASE)
    sections["decider:default"] = {"task_list": "default"}
    assert len(load(write(tmp_path, sections)).pools) == 3


def test_no_pools_is_an_error(tmp_path):
    message = load_error(write(tmp_path, {"swfd": {"domain": "d"}}))
    assert "no [decider:NAME] or [worker:NAME] section" in message
    assert "at least one pool" in message


def test_missing_required_keys(tmp_path):
    sections = {"swfd": {"region": "us-east-1"}, "worker:default": {"processes": "1"}}
    path = write(tmp_path, sections)
    message = load_error(path)
    assert f"{path}: [swfd] domain: missing; this key is required" in message
    assert f"{path}: [worker:default] task_list: missing; this key is required" in message


def test_missing_swfd_section(tmp_path):
    message = load_error(write(tmp_path, {"worker:default": {"task_list": "t"}}))
    assert "[swfd]: missing section" in message


def test_graceful_timeout_must_exceed_embedded_poll_timeout_by_ten_seconds(tmp_path):
    sections = with_key("swfd", "endpoint_url", "embedded")
    sections["swfd"]["graceful_timeout"] = "11.5"
    sections["embedded"] = {"poll_timeout": "2"}
    path = write(tmp_path, sections)
    message = load_error(path)
    assert f"{path}: [swfd] graceful_timeout = '11.5': expected at least 12 seconds" in message
    assert "[embedded] poll_timeout" in message


def test_graceful_timeout_against_aws_poll(tmp_path):
    message = load_error(write(tmp_path, with_key("swfd", "graceful_timeout", "69.9")))
    assert "expected at least 70 seconds" in message
    assert "SWF's long poll on AWS" in message


@pytest.mark.parametrize("section, key, value", [
    ("swfd", "endpoint_url", "embeded"),
    ("embedded", "poll_timeout", "5s"),
    ("embedded", "poll_timeout", "90"),
])
def test_one_bad_value_is_one_error_not_a_follow_on_graceful_timeout_error(
    tmp_path, section, key, value
):
    sections = with_key("swfd", "endpoint_url", "embedded")
    sections["swfd"]["graceful_timeout"] = "15"
    sections["embedded"] = {"poll_timeout": "5"}
    sections[section][key] = value
    path = write(tmp_path, sections)
    with pytest.raises(ConfigError) as info:
        load(path)
    assert len(info.value.problems) == 1, info.value.problems
    assert info.value.problems[0].startswith(f"{path}: [{section}] {key} = {value!r}: expected")
    assert "graceful_timeout" not in str(info.value)


def test_missing_file(tmp_path):
    path = str(tmp_path / "nope.ini")
    with pytest.raises(ConfigError, match=f"^{path}: configuration file not found$"):
        load(path)


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(ConfigError, match="is a directory"):
        load(str(tmp_path))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path):
    path = write(tmp_path)
    os.chmod(path, 0)
    with pytest.raises(ConfigError, match=f"^{path}: cannot read .*permission denied"):
        load(path)


def test_not_utf8(tmp_path):
    path = tmp_path / "swfd.ini"
    path.write_bytes(b"[swfd]\ndomain = \xff\xfe\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load(str(path))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("domain = d\n", "line 1: 'domain = d': expected a [section] header"),
        ("[swfd]\ndomain d\n", "INI syntax error: line 2: 'domain d'"),
        ("[swfd\ndomain = d\n", "line 1: '[swfd'"),
        ("[swfd]\ndomain = a\ndomain = b\n", "line 3: [swfd] domain: key appears more than once"),
        ("[swfd]\ndomain = a\n[swfd]\n", "line 3: section [swfd] appears more than once"),
    ],
)
def test_syntax_errors_name_the_file_and_line(tmp_path, text, expected):
    path = write(tmp_path, text=text)
    message = load_error(path)
    assert expected in message


def test_percent_signs_are_not_interpolated(tmp_path):
    settings = load(write(tmp_path, with_key("swfd", "identity", "swfd%(pid)s-{pid}")))
    assert settings.identity == "swfd%(pid)s-{pid}"
