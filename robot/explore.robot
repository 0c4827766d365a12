*** Settings ***
Documentation       A bounded exploration from a Robot suite: `Explore Scenario` searches faults
...                 and inputs from a happy path within a budget, checks the invariants on every
...                 run, and fails naming the shrunk scenario file of what it found.

Library             scenarios.robotlib.SmtpHilLibrary


*** Test Cases ***
Pipelined Mails Survive A Hostile Job On Current
    [Documentation]    Forty schedules from the pipelining happy path, bodies and
    ...    recipients changed: `current` keeps every invariant.
    [Tags]    explore    fixed
    ${report}=    Explore Scenario    pipelining    budget=40    vary=job
    Should Be True    ${report.passed}

Release 2.4 Cuts Bodies And Explore Names The Shrunk File
    [Documentation]    Expected failure on 2.4: the first schedule that adds a blank line to
    ...    the body breaks mail.sent_means_one_exact_copy; the keyword fails with the path of
    ...    the one-change scenario file it wrote.
    [Tags]    explore    bug    release-2.4
    Run Keyword And Expect Error    *explore-pipelining-body_cut-2_4.toml*
    ...    Explore Scenario    pipelining    profile=2.4    budget=10    vary=job
    ...    stop_at_first=${TRUE}
