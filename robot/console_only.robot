*** Settings ***
Documentation       The device driven only through its serial console.
...
...                 Every step types a command line and waits for the answer line; nothing
...                 reaches into the device. So the suite runs unchanged against a real board:
...
...                 | robot --variable CONSOLE_URL:/dev/ttyUSB0 robot/console_only.robot
...                 | robot --variable CONSOLE_URL:socket://localhost:4321 robot/console_only.robot
...
...                 By default ``${CONSOLE_URL}`` is the emulated board's ``hil://`` URL; its
...                 console reads run the board in virtual time, so waiting ten minutes for
...                 the client's answer costs milliseconds. The emulated board talks to a
...                 correct scripted server with STARTTLS and AUTH (the ``starttls`` scenario).
...
...                 The console's lines start with a tag: ``VERSION:``, ``RTC:``, ``OK:``,
...                 ``STATUS:``, ``STACK:``, ``SMTP:`` (client events), ``ERR:``, ``BOOT:``.

Resource            scenarios/robotlib/resources/smtp_hil.resource

Suite Setup         Provide Device Behind Console    ${CONSOLE_URL}
Suite Teardown      Close All Consoles
Test Setup          Open Console    ${CONSOLE_URL}
Test Teardown       Close Console


*** Variables ***
${CONSOLE_URL}      hil://robot-console
${SENDER}           pump7@example.com
${RECIPIENT}        ops@example.net


*** Test Cases ***
Console Tells Its Release And IP Stack
    [Documentation]    ``version`` answers with the client's release and its IP stack.
    Write Console Line    version
    ${line}=    Wait For Console Line    ^VERSION:    timeout=5 s
    ${version}=    Get Console Fields    ${line}
    Should Not Be Empty    ${version}[release]
    Should Not Be Empty    ${version}[ip_stack]

Help Lists The SMTP Commands
    [Documentation]    ``help`` lists, among others, how to send a mail.
    Write Console Line    help
    Wait For Console Line    ^HELP: smtp send    timeout=5 s

Unknown Command Is Refused With An Error Line
    [Documentation]    A command the console does not know gets one ``ERR:`` line naming it.
    Write Console Line    frobnicate
    Wait For Console Line    ^ERR: unknown command 'frobnicate'    timeout=5 s

RTC Set Is Read Back
    [Documentation]    ``rtc set`` sets the RTC (UTC) and ``rtc get`` reads it back, valid.
    Write Console Line    rtc set 2024-06-03T10:00:00
    Wait For Console Line    ^RTC: time=2024-06-03T10:00:0\\dZ valid=true    timeout=5 s
    Write Console Line    rtc get
    ${line}=    Wait For Console Line    ^RTC:    timeout=5 s
    ${rtc}=    Get Console Fields    ${line}
    Should Start With    ${rtc}[time]    2024-06-03T10:0
    Should Be Equal    ${rtc}[valid]    true

Mail Sent From The Console Is Reported Sent
    [Documentation]    ``smtp send`` queues a mail (``OK:``); the client's events follow as
    ...    ``SMTP:`` lines, ending with ``SMTP: sent 250 ...``. The body has an empty line
    ...    in it (the 2.5 fix). Then ``smtp status`` shows nothing queued and the ``sent``
    ...    as the last event.
    Write Console Line
    ...    smtp send --from ${SENDER} --to ${RECIPIENT} --subject "Console test" --body "Report.\\n\\nAll nominal."
    Wait For Console Line    ^OK: queued=    timeout=5 s
    Wait For Console Line    ^SMTP: connected    timeout=1 min
    Wait For Console Line    ^SMTP: sent 250    timeout=10 min
    Write Console Line    smtp status
    ${line}=    Wait For Console Line    ^STATUS:    timeout=5 s
    ${status}=    Get Console Fields    ${line}
    Should Be Equal    ${status}[queued]    0
    Should Start With    ${status}[last]    sent 250

Stack Statistics Show The Pool Never Ran Dry
    [Documentation]    ``stack stats`` shows the IP buffer pool: nothing failed, nothing
    ...    dropped, no watchdog reset.
    Write Console Line    stack stats
    ${line}=    Wait For Console Line    ^STACK:    timeout=5 s
    ${stack}=    Get Console Fields    ${line}
    Should Be Equal    ${stack}[failed_allocations]    0
    Should Be Equal    ${stack}[dropped_no_buffer]    0
    Should Be Equal    ${stack}[watchdog_resets]    0

Mail Without A Recipient Is Refused By The Console
    [Documentation]    ``smtp send`` without ``--to`` is refused before anything is queued.
    ${line}=    Run Console Command    smtp send --from ${SENDER}    ^ERR:    timeout=5 s
    Should Contain    ${line}    --to

Reset Reboots The Board
    [Documentation]    ``reset`` reboots the board: it acknowledges, then prints its boot
    ...    banner again.
    Write Console Line    reset
    Wait For Console Line    ^OK: resetting    timeout=5 s
    ${line}=    Wait For Console Line    ^BOOT:    timeout=30 s
    Should Contain    ${line}    reason='console reset'
