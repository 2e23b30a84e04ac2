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
        ({}, "minute_seconds", 60.0),
        ({"ECS_OPERATOR_MINUTE_SECONDS": "1"}, "minute_seconds", 1.0),
        ({}, "lost_instance_after", 30.0),
        ({"ECS_OPERATOR_LOST_INSTANCE_SECONDS": "5"}, "lost_instance_after", 5.0),
        ({}, "heap_trim", 60.0),
        ({"ECS_OPERATOR_HEAP_TRIM_SECONDS": "15"}, "heap_trim", 15.0),
        ({"ECS_OPERATOR_HEAP_TRIM_SECONDS": "0"}, "heap_trim", None),
        ({}, "insecure_registries", ()),
        (
            {"ECS_OPERATOR_INSECURE_REGISTRIES": "172.31.0.1:5000, localhost:5000,"},
            "insecure_registries",
            ("172.31.0.1:5000", "localhost:5000"),
        ),
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
        ({"ECS_OPERATOR_MINUTE_SECONDS": "0"}, "ECS_OPERATOR_MINUTE_SECONDS"),
        ({"ECS_OPERATOR_LOST_INSTANCE_SECONDS": "0"}, "ECS_OPERATOR_LOST_INSTANCE_SECONDS"),
        ({"ECS_OPERATOR_HEAP_TRIM_SECONDS": "-5"}, "ECS_OPERATOR_HEAP_TRIM_SECONDS"),
        ({"ECS_OPERATOR_INSECURE_REGISTRIES": "http://reg:5000/x"}, "ECS_OPERATOR_INSECURE_REGISTRIES"),
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
