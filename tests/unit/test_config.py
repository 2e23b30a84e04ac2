import pytest
from ecs_operator import config


@pytest.mark.parametrize(
    ("env", "field", "want"),
    [
        ({}, "scheduler_name", None),
        ({"ECS_OPERATOR_SCHEDULER_NAME": "ecs-scheduler"}, "scheduler_name", "ecs-scheduler"),
        ({"ECS_OPERATOR_SCHEDULER_NAME": "  "}, "scheduler_name", None),
        ({}, "refresh_delay", 0.25),
        ({"ECS_OPERATOR_REFRESH_DELAY_SECONDS": "0"}, "refresh_delay", 0.0),
        ({"ECS_OPERATOR_REFRESH_DELAY_SECONDS": "1.5"}, "refresh_delay", 1.5),
        ({}, "stopped_task_ttl", 3600.0),
        ({"ECS_OPERATOR_STOPPED_TASK_TTL_SECONDS": " 5 "}, "stopped_task_ttl", 5.0),
        ({}, "extender_inflight_timeout", 1.0),
        ({"ECS_OPERATOR_EXTENDER_INFLIGHT_TIMEOUT": "0.25"}, "extender_inflight_timeout", 0.25),
        ({"ECS_OPERATOR_EXTENDER_INFLIGHT_TIMEOUT": "0"}, "extender_inflight_timeout", None),
    ],
)
def test_settings_from_the_environment(env, field, want):
    assert getattr(config.Config.from_env(env), field) == want


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"ECS_OPERATOR_REFRESH_DELAY_SECONDS": "soon"}, "ECS_OPERATOR_REFRESH_DELAY_SECONDS"),
        ({"ECS_OPERATOR_STOPPED_TASK_TTL_SECONDS": "-1"}, "ECS_OPERATOR_STOPPED_TASK_TTL_SECONDS"),
        ({"ECS_OPERATOR_STOPPED_TASK_TTL_SECONDS": "inf"}, "ECS_OPERATOR_STOPPED_TASK_TTL_SECONDS"),
        ({"ECS_OPERATOR_EXTENDER_INFLIGHT_TIMEOUT": "nan"}, "ECS_OPERATOR_EXTENDER_INFLIGHT_TIMEOUT"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(env, named):
    with pytest.raises(config.ConfigError, match=named):
        config.Config.from_env(env)


def test_load_is_what_get_returns():
    loaded = config.load({"ECS_OPERATOR_REFRESH_DELAY_SECONDS": "2"})
    try:
        assert config.get() is loaded and loaded.refresh_delay == 2.0
    finally:
        config.load({})
