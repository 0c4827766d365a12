*** Settings ***
Documentation       Real C firmware in the loop: lwIP 2.1.3's SMTP client (``make lwip``) runs
...                 catalog scenarios on the simulated wire, judged by the same verdicts as
...                 the Python model. A scenario lwIP cannot run (STARTTLS: it is built
...                 without TLS) is skipped with the reason: not applicable is neither a pass
...                 nor a failure. Without lwIP every test is skipped with the one line
...                 saying why and how to get it.

Library             scenarios.robotlib.SmtpHilLibrary

Suite Setup         Skip Unless Firmware Is Available    lwip


*** Test Cases ***
lwIP Logs In With AUTH PLAIN And Sends The Mail
    [Documentation]    The ``auth-plain`` scenario passes on lwIP as on the model.
    ${verdict} =    Run Scenario    auth-plain    firmware=lwip
    Should Be Equal    ${verdict}    pass
    Scenario Should Pass
    Server Observation Should Be    mail_count    ${1}

lwIP Does Not Dot-Stuff: A Dot Line Ends The Mail Early
    [Documentation]    Expected failure: lwIP sends a body line ``.`` as it is, the server
    ...    takes it as the end of the mail and the next body lines as commands.
    Run Scenario    dot-line-in-body    firmware=lwip
    Scenario Should Fail    containing=the body was cut
    ${commands} =    Get Server Observation    commands
    Should Contain    ${commands}    RSET

STARTTLS Is Not Applicable To lwIP
    [Documentation]    Skipped, with the reason: lwIP is built without altcp TLS.
    Run Scenario    starttls    firmware=lwip
    Fail    not reached: the scenario is not applicable, the test is skipped
