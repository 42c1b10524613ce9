"""`smsgate-sim` options: command line over SMSGATE_SIM_* over --config file over defaults; shards."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator import cli
from simulator.load import RunConfig, Shard
from simulator.load.fleet import Fleet, plan_accounts


def test_file_then_environment_then_command_line(tmp_path: Path) -> None:
    config = tmp_path / "sim.yml"
    config.write_text("server: http://file:3000\ndevices: 40\nrate: 2\nsent_latency: [0.2, 0.3]\nlive: false\n")
    defaults = cli._defaults(str(config), {"SMSGATE_SIM_DEVICES": "60", "SMSGATE_SIM_SHARD": "2/3"})
    assert defaults == {"server": "http://file:3000", "devices": 60, "rate": 2.0, "sent_latency": (0.2, 0.3),
                        "live": False, "shard": Shard(2, 3)}
    parser, run = cli._parser()
    run.set_defaults(**defaults)
    args = parser.parse_args(["run", "--devices", "90"])
    built = cli._run_config(args)
    assert (built.server, built.devices, built.rate, built.shard, built.live) == ("http://file:3000", 90, 2.0,
                                                                                   Shard(2, 3), False)


def test_bad_values_name_their_source(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="SMSGATE_SIM_RATE"):
        cli._defaults(None, {"SMSGATE_SIM_RATE": "fast"})
    (tmp_path / "bad.yml").write_text("devcies: 3\n")
    with pytest.raises(ValueError, match="unknown option 'devcies'"):
        cli._defaults(str(tmp_path / "bad.yml"), {})


def test_run_needs_a_server(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMSGATE_SIM_SERVER", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "--devices", "3"])
    assert exit_info.value.code == 2
    assert "--server is required" in capsys.readouterr().err


def test_help_explains_the_options_and_the_environment(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    text = capsys.readouterr().out
    for needle in ("SMSGATE_SIM_", "--shard", "LOST", "STUCK", "--push", "FCM__ENDPOINT", "--ramp"):
        assert needle in text


def test_shards_split_the_fleet_and_the_rate() -> None:
    assert Shard.parse("2/4") == Shard(2, 4)
    for bad in ("0/2", "3/2", "x"):
        with pytest.raises(ValueError):
            Shard.parse(bad)
    shards = [RunConfig(server="http://s", devices=10, rate=8, phones_per_account=2, shard=Shard(k, 3))
              for k in (1, 2, 3)]
    phones = [n for config in shards for account in plan_accounts(config) for n in account.phones]
    assert sorted(phones) == list(range(10))
    assert [config.shard_devices for config in shards] == [4, 3, 3]
    assert shards[0].shard_rate == pytest.approx(8 / 3)
    assert [a.phones for a in plan_accounts(shards[0])] == [[0, 3], [6, 9]]
    with pytest.raises(ValueError, match="no phone"):
        RunConfig(server="http://s", devices=2, shard=Shard(3, 3))


def test_key_version_gives_each_phone_its_own_key() -> None:
    parser, _ = cli._parser()
    args = parser.parse_args(["run", "--server", "http://s", "--devices", "3", "--phones-per-account", "3",
                              "--key-version", "2"])
    config = cli._run_config(args)
    fleet = Fleet(config, tracker=None, factory=None)  # type: ignore[arg-type]  # only its phone configs are read
    [account] = fleet.accounts
    phones = [fleet.phone_config(account, number) for number in account.phones]
    assert {phone.key_version for phone in phones} == {2}
    assert len({phone.public_key for phone in phones}) == 3 and all(phone.public_key for phone in phones)
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--server", "http://s", "--key-version", "0"])
    assert cli._run_config(parser.parse_args(["run", "--server", "http://s"])).key_version is None
