from pathlib import Path

import pytest

from jobs.errors import ConfigError, ZoneAccessError
from jobs.runtime.config import LakeConfig
from jobs.runtime.zones import Side, Zone, check_access, parse_table_ref, zone_root


def test_lake_flag_overrides_the_configured_root(tmp_path):
    config = LakeConfig.load(lake=str(tmp_path / "lake"))
    assert config.lake_root == str(tmp_path / "lake")
    assert config.onprem_root == config.lake_root


def test_offerlake_lake_environment_variable_overrides_the_root(tmp_path, monkeypatch):
    monkeypatch.setenv("OFFERLAKE_LAKE", str(tmp_path))
    assert LakeConfig.load().lake_root == str(tmp_path)


def test_production_environment_keeps_onprem_zones_off_s3(monkeypatch):
    monkeypatch.delenv("OFFERLAKE_LAKE", raising=False)
    config = LakeConfig.load(environment="production")
    assert zone_root(config, Zone.STAGE).startswith("s3a://")
    assert zone_root(config, Zone.VAULT) == "/data/offerlake/onprem/vault"


def test_an_s3_lake_commits_through_the_many_writers_log_store(monkeypatch, tmp_path):
    from jobs.runtime.spark import S3_LOG_STORE, spark_conf

    monkeypatch.delenv("OFFERLAKE_LAKE", raising=False)
    on_s3 = spark_conf(LakeConfig.load(environment="production"))
    assert on_s3["spark.delta.logStore.s3a.impl"] == S3_LOG_STORE
    assert "spark.delta.logStore.s3a.impl" not in spark_conf(LakeConfig.load(lake=str(tmp_path)))


def test_unknown_environment_names_file_and_choices():
    with pytest.raises(ConfigError, match=r"lake\.yaml: environment 'moon' is not one of"):
        LakeConfig.load(environment="moon")


def test_missing_lake_yaml_names_the_file(tmp_path):
    with pytest.raises(ConfigError, match=f"{tmp_path}/lake.yaml: file not found"):
        LakeConfig.load(conf=tmp_path)


def test_spark_conf_must_be_a_mapping(tmp_path):
    (tmp_path / "lake.yaml").write_text(
        "default_environment: local\nenvironments: {local: {lake_root: x}}\nspark: {conf: [1]}\n"
    )
    with pytest.raises(ConfigError, match="spark.conf must be a mapping"):
        LakeConfig.load(conf=tmp_path)


def test_zone_paths_put_onprem_and_lake_zones_apart(tmp_path):
    config = LakeConfig.load(lake=str(tmp_path))
    assert zone_root(config, Zone.RAW) == f"{tmp_path}/onprem/raw"
    assert zone_root(config, Zone.ANALYTICS) == f"{tmp_path}/lake/analytics"


def test_onprem_side_may_read_the_handoff():
    check_access(Side.ONPREM, Zone.HANDOFF)


def test_table_reference_must_start_with_a_zone():
    assert parse_table_ref("stage/transactions") == (Zone.STAGE, "transactions")
    with pytest.raises(ZoneAccessError, match="does not start with a zone"):
        parse_table_ref("warehouse/transactions")


def test_conf_folder_is_the_repositorys():
    assert (Path(LakeConfig.load().conf_dir) / "lake.yaml").is_file()


def test_the_contact_policy_names_the_file_and_the_wrong_setting(tmp_path):
    from jobs.errors import ConfigError
    from jobs.match.policy import ContactPolicy

    policy = ContactPolicy.load(Path("conf"))
    assert policy.max_offers_per_customer_per_run >= 1 and "loans" in policy.topics
    for text, wrong in (
        ("max_offers_per_customer_per_run: 0", "max_offers_per_customer_per_run"),
        ("channel_caps_per_week: {fax: 1}", "fax"),
        ("time_zones: {CZ: Europe/Praha}", "Europe/Praha"),
        ("send_time: '25:00'", "send_time"),
        ("quiet: true", "quiet"),
    ):
        (tmp_path / "contact_policy.yaml").write_text(text)
        with pytest.raises(ConfigError, match=f"contact_policy.yaml: .*{wrong}"):
            ContactPolicy.load(tmp_path)


def test_serving_settings_errors_name_the_file_and_the_entry(tmp_path):
    from jobs.serving.settings import load

    (tmp_path / "serving.yaml").write_text(
        "serve: sometimes\ndynamodb: {table: profiles}\nmetrics: [clv]\n"
    )
    with pytest.raises(ConfigError, match=r"serving\.yaml: serve: Input should be 's3'"):
        load(tmp_path)
    (tmp_path / "serving.yaml").write_text("dynamodb: {table: profiles}\nmetrics: []\n")
    with pytest.raises(ConfigError, match=r"serving\.yaml: metrics: List should have at least 1"):
        load(tmp_path)
