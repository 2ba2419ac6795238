"""Scenario files: the embedded default, validation errors with file, line and key."""
from __future__ import annotations

import random

import pytest

from pagealloc.workload.distributions import parse_dist, parse_duration, parse_rate, parse_size
from pagealloc.workload.scenario import ScenarioError, load_scenario, loads_scenario

GOOD = """\
[scenario]
name = "t"
duration = "10s"
seed = 7

[machine]
mem = "256M"
nodes = 2
cpus = 4
sysctls = ["vm.min_free_kbytes=4096"]

[[phase]]
name = "a"
end = "5s"

[[phase.actor]]
kind = "page_cache"
rate = "16M/s"
file_size = { dist = "lognormal", median = "1M", sigma = 1.0 }

[[phase.actor]]
kind = "anon"
procs = 2
size = "8M"

[[phase]]
name = "b"

[[phase.actor]]
kind = "net"
burst_rate = "10/s"
node = 1
"""


def _err(text: str, path: str = "bad.toml") -> ScenarioError:
    with pytest.raises(ScenarioError) as ei:
        loads_scenario(text, path)
    return ei.value


def _line(text: str, needle: str, nth: int = 1) -> int:
    seen = 0
    for no, line in enumerate(text.splitlines(), 1):
        if needle in line:
            seen += 1
            if seen == nth:
                return no
    raise AssertionError(needle)


def test_default_scenario_is_a_two_node_16g_server():
    sc = load_scenario()
    assert sc.machine.mem == "16G" and sc.machine.nodes == 2
    assert sc.duration >= 120
    kinds = {a.kind for ph in sc.phases for a in ph.actors}
    # the realistic mix the issue asks for
    assert {"page_cache", "anon", "slab", "fork", "net", "balloon"} <= kinds
    assert any(a.params.get("mode") == "write" for ph in sc.phases for a in ph.actors
               if a.kind == "page_cache")
    assert {a.params["reclaimable"] for ph in sc.phases for a in ph.actors
            if a.kind == "slab"} == {True, False}


def test_good_scenario_parses():
    sc = loads_scenario(GOOD, "good.toml")
    assert [p.name for p in sc.phases] == ["a", "b"]
    assert sc.phases[0].end == 5.0 and sc.phases[1].start == 5.0 and sc.phases[1].end == 10.0
    pc = sc.phases[0].actors[0]
    assert pc.params["rate"] == 16 * 2**20
    assert pc.params["file_size"].kind == "lognormal"
    assert sc.machine.sysctls == ["vm.min_free_kbytes=4096"]
    assert sc.phases[1].actors[0].node == 1


def test_unknown_key_names_file_line_key_and_suggests():
    text = GOOD.replace('procs = 2', 'procz = 2')
    e = _err(text)
    msg = str(e)
    assert msg.startswith(f"bad.toml:{_line(text, 'procz')}: ")
    assert "phase[0].actor[1].procz" in msg and "'procs'" in msg
    assert e.line == _line(text, "procz") and e.path == "bad.toml"


def test_bad_unit_names_the_key():
    text = GOOD.replace('rate = "16M/s"', 'rate = "fast"')
    msg = str(_err(text))
    line = _line(text, 'rate = "fast"')
    assert msg.startswith(f"bad.toml:{line}: phase[0].actor[0].rate: ")
    assert "rate" in msg and "64M/s" in msg


def test_bad_distribution_parameter_in_inline_table():
    text = GOOD.replace('sigma = 1.0 }', 'sigma = "wide" }')
    msg = str(_err(text))
    assert msg.startswith(f"bad.toml:{_line(text, 'sigma')}: phase[0].actor[0].file_size.sigma:")


def test_unknown_distribution():
    text = GOOD.replace('dist = "lognormal"', 'dist = "zipfian"')
    msg = str(_err(text))
    assert "file_size.dist" in msg and "zipfian" in msg
    assert msg.startswith(f"bad.toml:{_line(text, 'zipfian')}:")


def test_missing_required_key_points_at_the_table():
    text = GOOD.replace('burst_rate = "10/s"\n', '')
    msg = str(_err(text))
    assert msg.startswith(f"bad.toml:{_line(text, '[[phase.actor]]', 3)}: phase[1].actor[0]: ")
    assert "burst_rate" in msg


def test_toml_syntax_error_has_the_line():
    text = GOOD.replace('seed = 7', 'seed = = 7')
    e = _err(text)
    assert e.line == _line(text, "seed = = 7")
    assert "not valid TOML" in str(e)


def test_machine_errors():
    text = GOOD.replace('cpus = 4', 'cpus = 4\ncpu_nodes = [0, 0, 1]')
    msg = str(_err(text))
    assert msg.startswith(f"bad.toml:{_line(text, 'cpu_nodes')}: machine.cpu_nodes:")
    text = GOOD.replace('node = 1', 'node = 5')
    msg = str(_err(text))
    assert msg.startswith(f"bad.toml:{_line(text, 'node = 5')}: phase[1].actor[0].node:")
    text = GOOD.replace('mem = "256M"', 'mem = "lots"')
    assert "machine.mem" in str(_err(text))


def test_phase_that_ends_before_it_starts():
    text = GOOD.replace('end = "5s"', 'start = "4s"\nend = "2s"')
    msg = str(_err(text))
    line = _line(text, 'end = "2s"')
    assert msg.startswith(f"bad.toml:{line}: phase[0].end:")


def test_quoted_sysctl_table_key_line():
    text = GOOD.replace('sysctls = ["vm.min_free_kbytes=4096"]',
                        '[machine.sysctls]\n"vm.min_free_kbytes" = true')
    msg = str(_err(text))
    assert msg.startswith(f"bad.toml:{_line(text, 'vm.min_free_kbytes')}:")


def test_load_scenario_file_names_the_file(tmp_path):
    p = tmp_path / "mine.toml"
    p.write_text(GOOD.replace('kind = "anon"', 'kind = "anonymous"'))
    with pytest.raises(ScenarioError) as ei:
        load_scenario(p)
    assert str(ei.value).startswith(f"{p}:{_line(p.read_text(), 'anonymous')}: phase[0].actor[1].kind:")


def test_units_and_seeded_distributions():
    assert parse_size("2M") == 2 << 20 and parse_size("3p") == 3 * 4096
    assert parse_duration("250ms") == 0.25 and parse_duration("2min") == 120
    assert parse_rate("64M/s", bytes_=True) == 64 << 20 and parse_rate("30/min") == 0.5
    d = parse_dist({"dist": "exp", "mean": "2s"}, parse_duration)
    a = [d.sample(random.Random(5)) for _ in range(3)]
    b = [d.sample(random.Random(5)) for _ in range(3)]
    assert a == b
    c = parse_dist({"dist": "choice", "values": [0, 3], "weights": [1, 0]}, float, integer=True)
    assert {c.sample(random.Random(i)) for i in range(20)} == {0.0}
