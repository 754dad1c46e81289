"""The HTTP API of ``storestatus serve`` (issue #12), through a real uvicorn server on a loopback
port, driven with ``httpx``: the same answers as the CLI's commands, the same guarantees, and
every byte a client sends treated as hostile."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from runners import AS_OF, EXAMPLES, ingest_examples, run_cli
from service_server import free_port, running_server
from test_reports import worker_held

from storestatus.config import DataDir
from storestatus.store import Store

TOKEN = "s3cret-token-for-the-tests-0123456789"
JSON = {"accept": "application/json"}


@pytest.fixture
def examples_dir(data_dir: Path) -> Path:
    ingest_examples(data_dir)
    return data_dir


@pytest.fixture
def server(examples_dir: Path) -> Iterator[str]:
    with running_server(examples_dir) as base:
        yield base


def wait_done(base: str, report_id: str, headers: dict[str, str] | None = None) -> httpx.Response:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        response = httpx.get(f"{base}/get_report/{report_id}", headers=headers, timeout=10)
        if response.status_code != 202:
            return response
        time.sleep(0.1)
    raise AssertionError(f"report {report_id} still running after 60 s")


def worker_pid(data_dir: Path, report_id: str) -> int:
    record = data_dir / "reports" / f"{report_id}.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pid = json.loads(record.read_text())["worker_pid"]
        if pid is not None:
            return int(pid)
        time.sleep(0.02)
    raise AssertionError("the worker never started")


# --- trigger and poll -------------------------------------------------------------------------


def test_trigger_running_then_complete_with_the_cli_s_csv(examples_dir: Path) -> None:
    cli = run_cli(examples_dir, "trigger-report", "--wait", "--as-of", AS_OF)
    assert cli.returncode == 0, cli.stderr
    cli_csv = (examples_dir / "reports" / f"{cli.stdout.split()[0]}.csv").read_bytes()
    assert cli_csv == (EXAMPLES / "expected_report.csv").read_bytes()
    with running_server(examples_dir) as base:
        with worker_held(examples_dir):
            triggered = httpx.post(f"{base}/trigger_report", json={"as_of": AS_OF}, timeout=30)
            assert triggered.status_code == 202
            report_id = triggered.json()["report_id"]
            assert triggered.headers["location"] == f"/get_report/{report_id}"
            worker_pid(examples_dir, report_id)
            running = httpx.get(f"{base}/get_report", params={"report_id": report_id})
            assert running.status_code == 202
            assert running.json() == {
                "report_id": report_id,
                "status": "Running",
                "created_at": running.json()["created_at"],
            }
            assert running.headers["retry-after"].isdigit()
        done = wait_done(base, report_id)
        assert done.status_code == 200
        assert done.headers["content-type"].startswith("text/csv")
        assert done.headers["x-report-status"] == "Complete"
        disposition = done.headers["content-disposition"]
        assert f'filename="storestatus-report-{report_id}.csv"' in disposition
        assert done.content == cli_csv
        by_query = httpx.get(f"{base}/get_report", params={"report_id": report_id})
        assert by_query.content == cli_csv
        described = httpx.get(f"{base}/get_report/{report_id}", headers=JSON).json()
        assert described["status"] == "Complete"
        assert described["rows"] == cli_csv.count(b"\n") - 1
        assert described["as_of"] == "2023-01-23T18:00:00+00:00"
        assert described["csv_url"] == f"/get_report/{report_id}"
        csv_preferred = {"accept": "application/json;q=0.5, text/csv"}
        assert httpx.get(f"{base}/get_report/{report_id}", headers=csv_preferred).content == cli_csv


def test_trigger_options_reach_the_report(examples_dir: Path, server: str) -> None:
    options = {"as_of": AS_OF, "interpolation": "previous", "detail": True, "max_gap": "2h"}
    report_id = httpx.post(f"{server}/trigger_report", json=options).json()["report_id"]
    done = wait_done(server, report_id)
    cli = run_cli(
        examples_dir,
        *("trigger-report", "--wait", "--as-of", AS_OF, "--interpolation", "previous"),
        *("--detail", "--max-gap", "2h"),
    )
    cli_csv = (examples_dir / "reports" / f"{cli.stdout.split()[0]}.csv").read_bytes()
    assert done.content == cli_csv
    assert b"unknown_last_week" in cli_csv.splitlines()[0]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"as_of": "yesterday"}, "as_of"),
        ({"interpolation": "linear"}, "interpolation"),
        ({"max_gap": "0s"}, "max_gap"),
        ({"max_gap": "soon"}, "max_gap"),
        ({"detail": "maybe"}, "detail"),
        ({"shards": 3}, "shards"),  # not an option of the API: refused, not ignored
    ],
)
def test_bad_options_are_422_naming_the_field(server: str, body: object, field: str) -> None:
    response = httpx.post(f"{server}/trigger_report", json=body)
    assert response.status_code == 422
    assert [error["loc"][-1] for error in response.json()["detail"]] == [field]


def test_a_body_that_is_not_json_is_422(server: str) -> None:
    response = httpx.post(
        f"{server}/trigger_report",
        content=b'{"as_of": ',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422


def test_a_failed_report_is_500_with_its_reason(examples_dir: Path, server: str) -> None:
    with worker_held(examples_dir):
        report_id = httpx.post(f"{server}/trigger_report").json()["report_id"]
        os.kill(worker_pid(examples_dir, report_id), signal.SIGKILL)
        done = wait_done(server, report_id)
    assert done.status_code == 500
    assert done.json() == {
        "report_id": report_id,
        "status": "Failed",
        "reason": "the report process exited before finishing (killed or crashed)",
    }


@pytest.mark.parametrize(
    "report_id",
    [
        "nope",
        "AAAAAAAAAAAAAAAAAAAAAA",  # our format, never issued
        "../reports/x",
        "..%2F..%2Fetc%2Fpasswd",
        "%00",
        "x" * 5000,
        "AAAAAAAAAAAAAAAAAAAAAA.json",
    ],
)
def test_unknown_and_hostile_ids_are_404(server: str, report_id: str) -> None:
    by_query = httpx.get(f"{server}/get_report", params={"report_id": report_id})
    assert by_query.status_code == 404
    assert by_query.json() == {"detail": "unknown report id"}
    by_path = httpx.get(f"{server}/get_report/{report_id}")
    assert by_path.status_code == 404


# --- listings ---------------------------------------------------------------------------------


def test_reports_stores_and_explain_answer_as_the_cli(examples_dir: Path, server: str) -> None:
    first = httpx.post(f"{server}/trigger_report", json={"as_of": AS_OF}).json()["report_id"]
    wait_done(server, first)
    second = httpx.post(f"{server}/trigger_report").json()["report_id"]
    wait_done(server, second)
    listed = httpx.get(f"{server}/reports").json()["reports"]
    assert [report["report_id"] for report in listed] == [second, first]
    assert [report["status"] for report in listed] == ["Complete", "Complete"]
    assert listed[1]["as_of"] == "2023-01-23T18:00:00+00:00"
    assert listed[0]["seconds"] > 0
    cli = run_cli(examples_dir, "reports", "--format", "json")
    assert json.loads(cli.stdout)["reports"] == listed
    assert httpx.get(f"{server}/reports", params={"limit": 1}).json()["reports"] == listed[:1]
    assert httpx.get(f"{server}/reports", params={"limit": 0}).status_code == 422

    for query, args in [({}, []), ({"silent_for": "3h", "as_of": AS_OF}, ["--silent-for", "3h"])]:
        cli_args = [*args, "--as-of", AS_OF] if "as_of" in query else args
        stores = run_cli(examples_dir, "stores", "--format", "json", *cli_args)
        assert httpx.get(f"{server}/stores", params=query).json() == json.loads(stores.stdout)
    assert httpx.get(f"{server}/stores", params={"silent_for": "a while"}).status_code == 422

    explained = run_cli(examples_dir, "explain", "0042", "--json", "--as-of", AS_OF)
    over_http = httpx.get(f"{server}/stores/0042/explain", params={"as_of": AS_OF})
    assert over_http.json() == json.loads(explained.stdout)
    unknown = httpx.get(f"{server}/stores/no-such-store/explain")
    assert unknown.status_code == 404
    assert "unknown store id 'no-such-store'" in unknown.json()["detail"]


def test_healthz(server: str) -> None:
    assert httpx.get(f"{server}/healthz").json()["status"] == "ok"


# --- security ---------------------------------------------------------------------------------


def test_with_a_token_every_endpoint_but_healthz_needs_it(examples_dir: Path) -> None:
    with running_server(examples_dir, env={"STORESTATUS_API_TOKEN": TOKEN}) as base:
        assert httpx.get(f"{base}/healthz").status_code == 200
        for method, path in [
            ("POST", "/trigger_report"),
            ("GET", "/get_report/AAAAAAAAAAAAAAAAAAAAAA"),
            ("GET", "/reports"),
            ("GET", "/stores"),
            ("GET", "/stores/0042/explain"),
            ("POST", "/ingest"),
            ("GET", "/openapi.json"),
            ("GET", "/"),
            ("GET", "/stores/0042"),
        ]:
            for headers in [
                {},
                {"authorization": "Bearer wrong"},
                {"authorization": f"Bearer {TOKEN}x"},
                {"authorization": TOKEN},
                {"authorization": "Basic !!!"},
            ]:
                response = httpx.request(method, f"{base}{path}", headers=headers)
                assert response.status_code == 401, (method, path, headers)
                assert response.headers.get_list("www-authenticate") == [
                    'Basic realm="storestatus"',
                    'Bearer realm="storestatus"',
                ]
        bearer = {"authorization": f"Bearer {TOKEN}"}
        assert httpx.get(f"{base}/reports", headers=bearer).status_code == 200
        spec = httpx.get(f"{base}/openapi.json", headers=bearer).json()
        assert {"/trigger_report", "/get_report/{report_id}", "/ingest"} <= set(spec["paths"])
        basic = base64.b64encode(f"anyone:{TOKEN}".encode()).decode()
        page = httpx.get(f"{base}/", headers={"authorization": f"Basic {basic}"})
        assert page.status_code == 200  # a browser's prompt sends the token as a password
        report_id = httpx.post(f"{base}/trigger_report", headers=bearer).json()["report_id"]
        assert wait_done(base, report_id, bearer).status_code == 200


def test_without_a_token_only_loopback_addresses_are_served(data_dir: Path) -> None:
    refused = run_cli(data_dir, "serve", "--host", "0.0.0.0")
    assert refused.returncode == 2
    assert "without a token" in refused.stderr
    token_file = data_dir.parent / "token"
    token_file.write_text("short\n")
    weak = run_cli(data_dir, "serve", "--token-file", str(token_file))
    assert weak.returncode == 2
    assert "at least 16 characters" in weak.stderr
    missing = run_cli(data_dir, "serve", "--token-file", str(data_dir.parent / "none"))
    assert missing.returncode == 2
    assert "cannot read" in missing.stderr


def test_serve_refuses_a_missing_data_directory_and_bad_limits(tmp_path: Path) -> None:
    missing = run_cli(tmp_path / "typo", "serve")
    assert missing.returncode == 2
    assert "is not a directory" in missing.stderr
    assert not (tmp_path / "typo").exists()
    tmp_path.joinpath("data").mkdir()
    for size in ["0", "lots", "-5MB", "1TB"]:
        bad = run_cli(tmp_path / "data", "serve", "--max-upload", size)
        assert bad.returncode == 2, size
        assert "is not a size" in bad.stderr
    assert run_cli(tmp_path / "data", "serve", "--max-running", "0").returncode == 2


def test_a_request_from_another_site_cannot_change_anything(
    examples_dir: Path, server: str
) -> None:
    for headers in [
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"sec-fetch-site": "cross-site"},
    ]:
        for path in ["/trigger_report", "/ingest", "/"]:
            response = httpx.post(f"{server}{path}", headers=headers)
            assert response.status_code == 403, (path, headers)
    assert not list((examples_dir / "reports").glob("*.json"))
    own = {"origin": server, "sec-fetch-site": "same-origin"}
    assert httpx.post(f"{server}/trigger_report", headers=own).status_code == 202


def test_twenty_concurrent_triggers_start_at_most_the_limit(examples_dir: Path) -> None:
    with running_server(examples_dir, "--max-running", "4") as base:
        with worker_held(examples_dir):
            with ThreadPoolExecutor(max_workers=20) as pool:
                responses = list(
                    pool.map(lambda _: httpx.post(f"{base}/trigger_report", timeout=60), range(20))
                )
            codes = sorted(response.status_code for response in responses)
            assert codes == [202] * 4 + [429] * 16
            refused = [response for response in responses if response.status_code == 429]
            assert all(response.headers["retry-after"].isdigit() for response in refused)
            started = [r.json()["report_id"] for r in responses if r.status_code == 202]
            assert len(list((examples_dir / "reports").glob("*.json"))) == 4
        for report_id in started:
            assert wait_done(base, report_id).status_code == 200
        # Finished reports free their slots.
        assert httpx.post(f"{base}/trigger_report").status_code == 202


# --- ingest -----------------------------------------------------------------------------------


Upload = list[tuple[str, tuple[str | None, bytes, str | None]]]


def files(**named: Path | bytes) -> Upload:
    return [
        (kind, (f"{kind}.csv", path if isinstance(path, bytes) else path.read_bytes(), "text/csv"))
        for kind, path in named.items()
    ]


def table_versions(data_dir: Path) -> dict[str, int | None]:
    return dict(Store(DataDir(data_dir)).snapshot().versions)


def test_upload_ingest_reports_what_the_cli_reports(data_dir: Path, tmp_path: Path) -> None:
    data_dir.mkdir()
    with running_server(data_dir) as base:
        response = httpx.post(
            f"{base}/ingest",
            files=files(
                status=EXAMPLES / "store_status.csv",
                hours=EXAMPLES / "business_hours.csv",
                timezones=EXAMPLES / "timezones.csv",
            ),
            timeout=60,
        )
        assert response.status_code == 200, response.text
        shown = response.json()["files"]
        assert [file["kind"] for file in shown] == ["status", "hours", "timezones"]
        assert [file["name"] for file in shown] == ["status.csv", "hours.csv", "timezones.csv"]
        cli_dir = tmp_path / "cli"
        printed = ingest_examples(cli_dir)
        lines = [
            line
            for line in (printed.stdout + printed.stderr).splitlines()
            if line.split(" ")[0] in {"status", "hours", "timezones"}
        ]
        assert len(lines) == 3
        for file, line in zip(shown, lines, strict=True):  # the same words, our file names
            assert file["summary"].split(": ", 1)[1] == line.split(": ", 1)[1]
            assert file["summary"].startswith(f"{file['kind']} {file['name']}: ")
        assert shown[0]["inserted"] > 0
        assert not (data_dir / "uploads").exists() or not any((data_dir / "uploads").iterdir())
        # The upload is in the store: the report equals the expected one.
        report_id = httpx.post(f"{base}/trigger_report", json={"as_of": AS_OF}).json()["report_id"]
        done = wait_done(base, report_id)
        assert done.content == (EXAMPLES / "expected_report.csv").read_bytes()


def test_a_bad_upload_stores_nothing(examples_dir: Path, server: str) -> None:
    before = table_versions(examples_dir)
    bad: list[Upload] = [
        files(status=EXAMPLES / "store_status.csv", hours=b"store_id,when\n1,2\n"),
        files(status=b"\x1f\x8b not really gzip"),
        [("notes", ("notes.txt", b"hello", "text/plain"))],
        [("status", (None, b"store_id,status,timestamp_utc\n", None))],  # a field, not a file
    ]
    for upload in bad:
        response = httpx.post(f"{server}/ingest", files=upload, timeout=60)
        assert response.status_code == 422, response.text
        assert isinstance(response.json()["detail"], str)
    not_multipart = httpx.post(f"{server}/ingest", content=b"store_id\n1\n")
    assert not_multipart.status_code == 422
    assert table_versions(examples_dir) == before
    assert not any((examples_dir / "uploads").iterdir())


def test_an_oversized_upload_is_413_and_stores_nothing(examples_dir: Path) -> None:
    before = table_versions(examples_dir)
    with running_server(examples_dir, "--max-upload", "4KB") as base:
        big = b"store_id,status,timestamp_utc\n" + b"1,active,2023-01-23 10:00:00 UTC\n" * 500
        declared = httpx.post(f"{base}/ingest", files=files(status=big))
        assert declared.status_code == 413

        def chunks() -> Iterator[bytes]:  # no Content-Length: cut off while streaming
            yield b"--b\r\nContent-Disposition: form-data; name=status; filename=a.csv\r\n\r\n"
            for _ in range(100):
                yield b"1,active,2023-01-23 10:00:00 UTC\n" * 10

        streamed = httpx.post(
            f"{base}/ingest",
            content=chunks(),
            headers={"content-type": "multipart/form-data; boundary=b"},
        )
        assert streamed.status_code == 413
        small = httpx.post(f"{base}/trigger_report", content=b"{" + b" " * 70_000 + b"}")
        assert small.status_code == 413  # any other body: 64 KiB at most
    assert table_versions(examples_dir) == before
    assert not any((examples_dir / "uploads").iterdir())


def test_a_full_disk_during_an_upload_is_503_and_stores_nothing(examples_dir: Path) -> None:
    before = table_versions(examples_dir)
    big = b"store_id,status,timestamp_utc\n" + b"1,active,2023-01-23 10:00:00 UTC\n" * 20_000
    with running_server(examples_dir, limit_file_size=256 * 1024) as base:
        response = httpx.post(f"{base}/ingest", files=files(status=big), timeout=60)
        assert response.status_code == 503
        assert "cannot store the upload" in response.json()["detail"]
        assert response.headers["retry-after"].isdigit()
        assert httpx.get(f"{base}/healthz").status_code == 200  # and it still serves
    assert table_versions(examples_dir) == before
    assert not any((examples_dir / "uploads").iterdir())


def test_sigterm_stops_the_server_at_once(examples_dir: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "storestatus", "serve"),
            *("--port", str(port), "--data-dir", str(examples_dir)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=15)
    finally:
        server.kill()
    assert server.returncode == 0, output
    assert "Traceback" not in output


def test_serve_without_its_extra_says_how_to_install_it(data_dir: Path) -> None:
    hide_fastapi = (  # as on a plain install: fastapi cannot be found
        "import importlib.util as u, sys; find = u.find_spec; "
        "u.find_spec = lambda name, *rest: None if name == 'fastapi' else find(name, *rest); "
        f"sys.argv = ['storestatus', 'serve', '--data-dir', {str(data_dir)!r}]; "
        "from storestatus.cli import main; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", hide_fastapi],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr == "Error: serve needs the web stack: pip install 'storestatus[serve]'\n"


def test_the_cli_does_not_import_the_web_stack() -> None:
    check = (
        "import sys, storestatus.cli, storestatus.service, storestatus.reports, "
        "storestatus.worker; print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'fastapi', 'starlette', 'uvicorn', 'jinja2', 'python_multipart', 'httpx'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("hostile") / "data"
    ingest_examples(data_dir)
    with running_server(data_dir, "--max-upload", "64KB") as base:
        yield base


MAX_EXAMPLES = int(os.environ.get("STORESTATUS_HOSTILE_EXAMPLES", "150"))
HOSTILE_TEXT = st.text(min_size=0, max_size=300) | st.binary(max_size=300).map(
    lambda raw: raw.decode("latin-1")
)


@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    path=st.sampled_from(
        [
            "/trigger_report",
            "/get_report",
            "/get_report/x",
            "/reports",
            "/stores",
            "/stores/x/explain",
            "/ingest",
            "/",
            "/reports/x",
            "/stores/x",
            "/openapi.json",
        ]
    ),
    suffix=HOSTILE_TEXT,
    query=st.dictionaries(
        st.sampled_from(
            [
                "report_id",
                "limit",
                "as_of",
                "silent_for",
                "max_gap",
                "interpolation",
                "max_future",
                "allow_shrink",
            ]
        ),
        HOSTILE_TEXT,
        max_size=3,
    ),
    body=st.binary(max_size=2000),
    content_type=st.sampled_from(
        [
            "application/json",
            "multipart/form-data; boundary=b",
            "multipart/form-data",
            "text/csv",
            "application/x-www-form-urlencoded",
            "",
        ]
    ),
)
def test_no_request_gets_a_server_error(  # noqa: PLR0917 - one argument a strategy
    shared_server: str,
    method: str,
    path: str,
    suffix: str,
    query: dict[str, str],
    body: bytes,
    content_type: str,
) -> None:
    if path.endswith("/x"):  # the id in the path: any text, percent-encoded
        path = path[: -len("x")] + (quote(suffix, safe="") or "x")
    response = httpx.request(
        method,
        shared_server + path,
        params=query,
        content=body,
        headers={"content-type": content_type} if content_type else {},
        timeout=30,
    )
    # Answered as a client's mistake (4xx) or done (2xx, 3xx; a report may have started),
    # never a server error.
    assert response.status_code < 500, response.text
    assert "Traceback" not in response.text
