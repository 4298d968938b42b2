"""Image references of the docker transport and short-name resolution (registries.conf)."""

from __future__ import annotations

import pytest

from pypod_core.errors import ConfigError, InvalidArgError, RegistryError, ShortNameError
from pypod_core.host.reference import parse_reference
from pypod_core.host.registries import load_registries, resolve_short_name


@pytest.mark.parametrize("text, expected", [
    ("busybox", ("", "busybox", "", "")),
    ("busybox:1.36", ("", "busybox", "1.36", "")),
    ("127.0.0.1:5000/pypod-test/busybox", ("127.0.0.1:5000", "pypod-test/busybox", "", "")),
    ("localhost/x:tag", ("localhost", "x", "tag", "")),
    ("docker.io/busybox", ("docker.io", "library/busybox", "", "")),
    ("index.docker.io/busybox", ("docker.io", "library/busybox", "", "")),
    ("quay.io/a/b@sha256:" + "a" * 64, ("quay.io", "a/b", "", "sha256:" + "a" * 64)),
    ("[::1]:5000/x:1", ("[::1]:5000", "x", "1", "")),
])
def test_parse_reference(text, expected):
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == expected


@pytest.mark.parametrize("text", ["Busybox", "a.io/x:bad/tag", "x@sha256:short", "a.io/",
                                  "a.io/x:"])
def test_a_malformed_reference_is_one_line_naming_it(text):
    with pytest.raises(InvalidArgError, match="invalid image reference") as info:
        parse_reference(text)
    assert text in str(info.value) and "\n" not in str(info.value)


def _conf(tmp_path, text):
    path = tmp_path / "registries.conf"
    path.write_text(text)
    return load_registries(str(path))


def test_an_alias_resolves_a_short_name(tmp_path):
    conf = _conf(tmp_path, '[aliases]\nbb = "127.0.0.1:5000/pypod-test/busybox"\n')
    res = resolve_short_name("bb", conf)
    assert res.candidates == ("127.0.0.1:5000/pypod-test/busybox:latest",) and res.alias
    assert resolve_short_name("bb:1", conf).candidates == (
        "127.0.0.1:5000/pypod-test/busybox:1",)


def test_one_search_registry_gives_one_candidate(tmp_path):
    conf = _conf(tmp_path, 'unqualified-search-registries = ["r.example"]\n')
    assert resolve_short_name("pypod-test/multi", conf).candidates == (
        "r.example/pypod-test/multi:latest",)


def test_docker_hub_short_names_get_library(tmp_path):
    conf = _conf(tmp_path, 'unqualified-search-registries = ["docker.io"]\n')
    assert resolve_short_name("busybox", conf).candidates == (
        "docker.io/library/busybox:latest",)


def test_enforcing_with_two_candidates_and_no_tty_is_an_error(tmp_path):
    conf = _conf(tmp_path, 'unqualified-search-registries = ["a.io", "b.io"]\n'
                           'short-name-mode = "enforcing"\n')
    with pytest.raises(ShortNameError, match="cannot prompt without a TTY"):
        resolve_short_name("img", conf)
    assert resolve_short_name("img", conf, tty=True).prompt


@pytest.mark.parametrize("mode", ["permissive", "disabled"])
def test_permissive_and_disabled_try_every_search_registry(tmp_path, mode):
    conf = _conf(tmp_path, 'unqualified-search-registries = ["a.io", "b.io"]\n'
                           f'short-name-mode = "{mode}"\n')
    assert resolve_short_name("img", conf).candidates == ("a.io/img:latest",
                                                          "b.io/img:latest")


def test_no_alias_and_no_search_registries_names_the_file(tmp_path):
    conf = _conf(tmp_path, "")
    with pytest.raises(ShortNameError, match="no unqualified-search registries"):
        resolve_short_name("img", conf)


def test_a_qualified_name_is_itself(tmp_path):
    assert resolve_short_name("a.io/x", _conf(tmp_path, "")).candidates == ("a.io/x:latest",)


def test_drop_ins_are_merged_in_order(tmp_path):
    (tmp_path / "registries.conf.d").mkdir()
    (tmp_path / "registries.conf.d/01.conf").write_text('[aliases]\nx = "a.io/x"\n')
    (tmp_path / "registries.conf.d/02.conf").write_text('[aliases]\nx = "b.io/x"\n')
    conf = _conf(tmp_path, 'unqualified-search-registries = ["a.io"]\n')
    assert conf.aliases == {"x": "b.io/x"} and conf.search == ("a.io",)


def test_v1_form_and_insecure_and_blocked(tmp_path):
    conf = _conf(tmp_path, '[registries.search]\nregistries = ["a.io"]\n'
                           '[registries.insecure]\nregistries = ["b.io"]\n'
                           '[registries.block]\nregistries = ["c.io"]\n')
    assert conf.search == ("a.io",) and conf.insecure("b.io") and not conf.insecure("a.io")
    with pytest.raises(RegistryError, match="blocked"):
        conf.endpoints(parse_reference("c.io/x:1"))


def test_prefix_location_rewrite_and_mirrors(tmp_path):
    conf = _conf(tmp_path, '[[registry]]\nprefix = "a.io/team"\nlocation = "b.io/mirror"\n'
                           '[[registry.mirror]]\nlocation = "m.io/team"\n'
                           'pull-from-mirror = "digest-only"\n')
    by_tag = conf.endpoints(parse_reference("a.io/team/img:1"))
    assert [str(e.reference) for e in by_tag] == ["b.io/mirror/img:1"]
    by_digest = conf.endpoints(parse_reference("a.io/team/img@sha256:" + "0" * 64))
    assert [e.mirror for e in by_digest] == [True, False]
    assert str(by_digest[0].reference).startswith("m.io/team/img@")
    assert conf.endpoints(parse_reference("a.io/teamster/x:1"))[0].reference.registry == \
        "a.io"


@pytest.mark.parametrize("text, what", [
    ("bogus = 1\n", "unknown key 'bogus'"),
    ('short-name-mode = "sometimes"\n', "short-name-mode"),
    ('[aliases]\nx = "short"\n', "not a fully qualified"),
    ('[[registry]]\nlocation = "a.io"\ncolour = "red"\n', "unknown key 'colour'"),
    ('credential-helpers = ["secretservice"]\n', "credential-helpers"),
    ("unqualified-search-registries = 'a.io'\n", "array of strings"),
    ("[[registry\n", "invalid TOML"),
])
def test_a_malformed_registries_conf_names_the_file_and_key(tmp_path, text, what):
    with pytest.raises(ConfigError, match=what) as info:
        _conf(tmp_path, text)
    assert "registries.conf" in str(info.value)


def test_the_system_registries_conf_and_its_drop_ins_parse():
    load_registries("/etc/containers/registries.conf")
