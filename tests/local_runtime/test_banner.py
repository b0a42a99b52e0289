"""What `make run` prints once ready: where data lives, and how to watch notifications."""

from pathlib import Path

from local_runtime.__main__ import banner
from local_runtime.runtime import RunningStore
from local_runtime.settings import Settings

STORE = RunningStore(
    api_url="http://127.0.0.1:8001",
    aws_endpoint_url="http://127.0.0.1:4567",
    region="eu-west-1",
    table_name="eventstore-local-events",
    stream_arn="arn:aws:dynamodb:eu-west-1:123456789012:table/eventstore-local-events/stream/x",
    topic_arn="arn:aws:sns:eu-west-1:123456789012:eventstore-local-notifications",
    on_failure_queue_url="http://127.0.0.1:4567/123456789012/eventstore-local-notify-failures",
    demo_queue_url="http://127.0.0.1:4567/123456789012/eventstore-local-notifications-demo",
    access_key="test",
    secret_key="test",
    _stop=lambda: None,
)


def _line(text: str, label: str) -> str:
    (line,) = (line for line in text.splitlines() if line.strip().startswith(label))
    return line


def test_without_a_data_dir_the_banner_says_the_data_is_in_memory() -> None:
    assert "in memory only" in _line(banner(STORE, Settings()), "data:")


def test_with_a_data_dir_the_banner_says_where_it_is_kept(tmp_path: Path) -> None:
    line = _line(banner(STORE, Settings(data_dir=tmp_path)), "data:")
    assert str(tmp_path) in line
    assert "in memory" not in line


def test_the_banner_has_a_ready_to_paste_tail_line_for_the_demo_queue() -> None:
    text = banner(STORE, Settings())
    assert STORE.demo_queue_url in _line(text, "demo queue:")
    command = _line(text, "AWS_ACCESS_KEY_ID=").split()
    assert command[:3] == [
        "AWS_ACCESS_KEY_ID=test",
        "AWS_SECRET_ACCESS_KEY=test",
        "AWS_DEFAULT_REGION=eu-west-1",
    ]
    assert Path(command[3]).name == "eventstore"
    assert command[4:] == ["--url", STORE.api_url, "tail", "--queue", STORE.demo_queue_url]
