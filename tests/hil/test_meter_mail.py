"""Our meter firmware's mail, checked against the SMTP client release we ship."""

from scenarios.pytest_plugin import assert_passed
from scenarios.server.rules import Rule, ServerConfig
from smtp.message import MailJob

REPORT = """
[scenario]
name = "meter-report"
title = "The meter's daily report arrives whole"

[device.config.server]
security = "none"

[server]
starttls = false

[job]
from = "meter3@example.com"
to = ["ops@example.net"]
subject = "Daily reading"
body = "Reading: 1234 kWh\\n\\nNo alarms.\\n"

[expect]
event = "sent"
mailbox_count = 1
body_exact = true
"""


def test_catalog_bugs_we_care_about(hil_run):
    for name in ("blank-line-truncation", "pipeline-mail-rejected", "starttls"):
        assert_passed(hil_run(name))


def test_our_daily_report(hil_run):
    result = hil_run(scenario_text=REPORT)
    assert_passed(result)
    assert b"No alarms." in result.mailbox[0].content


def test_same_trace_for_the_same_seed(hil_run):
    assert hil_run("starttls").trace_sha256 == hil_run("starttls").trace_sha256


def test_a_busy_server_is_reported(hil_board, hil_server):
    hil_server(ServerConfig(rules=(Rule(verb="MAIL", reply="451 4.3.2 Try later"),)))
    hil_board.submit(MailJob(sender="meter3@example.com", to=("ops@example.net",),
                             subject="Reading", body="1234 kWh\n"))
    done = hil_board.run_until_done()
    assert done is not None and type(done.event).__name__ == "CommandAbort"
