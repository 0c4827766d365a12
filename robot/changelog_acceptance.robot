*** Settings ***
Documentation       One acceptance test per line of the client's changelog.
...
...                 For each line: the fixed behaviour on release ``current`` (every bug
...                 fixed), and the bug, or the missing feature, on the release that had it.
...                 A test of a bug states its expected failure in its documentation and shows
...                 it: the keyword that checks the correct behaviour is run with `Run Keyword
...                 And Expect Error`, matching the sentence that describes the field problem.
...
...                 Release labels: the changelog names 2.5 and 2.4; its earlier groups have no
...                 number, and we label them 2.3, 2.2, 2.1, 2.0 and 1.0, newest first.
...                 Everything runs on the emulated board in virtual time: a 10-minute SMTP
...                 timeout costs milliseconds.

Library             OperatingSystem
Resource            scenarios/robotlib/resources/smtp_hil.resource

Test Teardown       Clean Up After Test


*** Test Cases ***
# ---- 2.5 ------------------------------------------------------------------------------------

Body With A Blank Line Arrives Whole
    [Documentation]    2.5: "Truncated messages that contained blank line." The daily report has
    ...    paragraphs separated by empty lines; the server receives every line of it.
    [Tags]    changelog-2.5    fixed
    Board On Release current Talks To The blank-line-truncation Server
    Device Sends Its Daily Report
    Mail Should Be Sent Within    10 min
    Mail Body Should Be    ${REPORT}
    Pool Should Return To Full    within=15 min
    Save Artifacts

Release 2.4 Cuts The Body At Its First Blank Line
    [Documentation]    2.5: "Truncated messages that contained blank line."
    ...    Expected failure on 2.4: the client reports the mail sent, but the server received
    ...    only the first paragraph: the body was cut at the first blank line.
    [Tags]    changelog-2.5    bug    release-2.4
    Board On Release 2.4 Talks To The blank-line-truncation Server
    Device Sends Its Daily Report
    Mail Should Be Sent Within    10 min
    Run Keyword And Expect Error    *cut at the first blank line*
    ...    Mail Body Should Be    ${REPORT}

Configuration Header Of Another Version Is Refused
    [Documentation]    2.5: "Version check was added to configuration header." A device
    ...    configuration whose header says version 2 is refused: the job ends with an error
    ...    naming the version, and nothing is sent.
    [Tags]    changelog-2.5    fixed
    Start Scenario Server    date-header
    Boot Emulated Board    profile=current    config_version=2
    Device Sends A Pressure Alarm
    ${error}=    Outcome Should Start With    error    error invalid_input    timeout=1 min
    Should Contain    ${error}    config_version: file has version 2
    Mailbox Should Be Empty

Release 2.4 Runs With A Configuration Header Of Another Version
    [Documentation]    2.5: "Version check was added to configuration header."
    ...    Expected failure on 2.4: there is no version check; the client runs with a
    ...    configuration written for another version and reports no error.
    [Tags]    changelog-2.5    bug    release-2.4
    Start Scenario Server    date-header
    Boot Emulated Board    profile=2.4    config_version=2
    Device Sends A Pressure Alarm
    Run Keyword And Expect Error    *no 'error' event*sent 250*
    ...    Wait For Device Event    error    timeout=10 min
    Mail Count Should Be    1

# ---- 2.4 ------------------------------------------------------------------------------------

Date Header Shows The Right Month And Day
    [Documentation]    2.4: "Values of month and day are converted properly." On a leap day
    ...    the Date header says 29 Feb.
    [Tags]    changelog-2.4    fixed
    Start Scenario Server    date-header
    Boot Emulated Board    profile=current    rtc=2024-02-29 12:00:00
    Device Sends A Pressure Alarm
    Mail Should Be Sent Within    1 min
    Mail Header Should Be    Date    Thu, 29 Feb 2024 12:00:00 +0000

Release 2.3 Writes The Next Month And The Day Before
    [Documentation]    2.4: "Values of month and day are converted properly."
    ...    Expected failure on 2.3: the 1-based month indexes the month names as if 0-based
    ...    and the day is one less: 29 Feb 2024 is written as 28 Mar 2024.
    [Tags]    changelog-2.4    bug    release-2.3
    Start Scenario Server    date-header
    Boot Emulated Board    profile=2.3    rtc=2024-02-29 12:00:00
    Device Sends A Pressure Alarm
    Mail Should Be Sent Within    1 min
    Run Keyword And Expect Error    *28 Mar 2024*
    ...    Mail Header Should Be    Date    Thu, 29 Feb 2024 12:00:00 +0000

Message-ID Carries The Device Host Name
    [Documentation]    2.4: "psp_template_hostname is used." The Message-ID's domain is the
    ...    device's host name (``device.example.com``).
    [Tags]    changelog-2.4    fixed
    Board On Release current Talks To A Plain SMTP Server
    Device Sends A Pressure Alarm
    Mail Should Be Sent Within    1 min
    Mail Header Should Match    Message-ID    @device\\.example\\.com>$

Release 2.3 Writes Localhost In The Message-ID
    [Documentation]    2.4: "psp_template_hostname is used."
    ...    Expected failure on 2.3: the template host name is ignored and every device's
    ...    Message-ID ends in ``@localhost``.
    [Tags]    changelog-2.4    bug    release-2.3
    Board On Release 2.3 Talks To A Plain SMTP Server
    Device Sends A Pressure Alarm
    Mail Should Be Sent Within    1 min
    Run Keyword And Expect Error    *@localhost>*
    ...    Mail Header Should Match    Message-ID    @device\\.example\\.com>$

# ---- 2.3 (unnumbered in the changelog) -----------------------------------------------------

Release 2.3 Runs IP Stack 6.02
    [Documentation]    2.3: "Updated to new IP Stack 6.02." Releases from 2.3 on, current
    ...    included, report IP stack 6.02.
    [Tags]    changelog-2.3    fixed
    Boot Emulated Board    profile=2.3
    Board Should Run IP Stack    6.02
    Boot Emulated Board    profile=current
    Board Should Run IP Stack    6.02

Release 2.2 Still Runs IP Stack 4.11
    [Documentation]    2.3: "Updated to new IP Stack 6.02."
    ...    Expected failure on 2.2: it runs the older IP stack 4.11.
    [Tags]    changelog-2.3    bug    release-2.2
    Boot Emulated Board    profile=2.2
    Run Keyword And Expect Error    *runs IP stack 4.11*
    ...    Board Should Run IP Stack    6.02

# ---- 2.2 (unnumbered) ------------------------------------------------------------------------

EHLO Greets With The Device Domain Name
    [Documentation]    2.2: "Changed psp_get_host_addr() to psp_get_host_domain() ... the name
    ...    of device that is used in hello message." A strict server that refuses a bare IP
    ...    in EHLO accepts the device's domain name and the mail.
    [Tags]    changelog-2.2    fixed
    Board On Release current Talks To The ehlo-domain-name Server
    Device Sends A Pressure Alarm
    Mail Should Be Sent Within    1 min
    Client Should Have Greeted With    pump7.example.com

Release 2.1 Greets With A Bare IP Address And Is Refused
    [Documentation]    2.2: "Changed psp_get_host_addr() to psp_get_host_domain()".
    ...    Expected failure on 2.1: the client greets with ``EHLO 192.0.2.10``; the strict
    ...    server answers 501 and the mail is never sent.
    [Tags]    changelog-2.2    bug    release-2.1
    Board On Release 2.1 Talks To The ehlo-domain-name Server
    Device Sends A Pressure Alarm
    Outcome Should Start With    command_abort    command_abort EHLO 501
    Run Keyword And Expect Error    *greeted with EHLO 192.0.2.10*
    ...    Client Should Have Greeted With    pump7.example.com

Outlook Gets The ECDHE Cipher Suite It Insists On
    [Documentation]    2.2, known issue: "Outlook SMTP server does not work because it drops
    ...    TLS connection ... TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA (0xc014), which is currently
    ...    not supported". A server that accepts only that suite gets TLS and the mail.
    [Tags]    changelog-2.2    known-issue    fixed
    Board On Release current Talks To The outlook-ecdhe-only Server
    Send Scenario Job
    Mail Should Be Sent Within    1 min
    Server Observation Should Be    tls_cipher    ECDHE-RSA-AES256-SHA

Release 2.5 Cannot Agree On A Cipher With Outlook
    [Documentation]    2.2, known issue: "Outlook SMTP server does not work because it drops
    ...    TLS connection". Expected failure on 2.5 (and 2.0 to 2.4): the client offers no
    ...    ECDHE suite; the handshake fails and the job ends with ``error tls_failed``.
    [Tags]    changelog-2.2    known-issue    bug    release-2.5
    Board On Release 2.5 Talks To The outlook-ecdhe-only Server
    Send Scenario Job
    Run Keyword And Expect Error    *no 'sent' event*error tls_failed*
    ...    Wait For Device Event    sent    timeout=10 min
    Mailbox Should Be Empty

# ---- 2.1 (unnumbered) ------------------------------------------------------------------------

Mail Larger Than The Buffer Pool Is Delivered Without Running The Stack Dry
    [Documentation]    2.1: "Added handling of incoming messages during sending of MAIL
    ...    content. (Stack was running out of IP buffers because messages were not
    ...    handled)." With 6 IP buffers, a 6.5 KB trend log is delivered whole, the
    ...    watchdog never fires and every buffer comes back.
    [Tags]    changelog-2.1    fixed
    Start Scenario Server    buffer-exhaustion-during-content
    Boot Emulated Board    profile=current    pool_buffers=6
    Send Scenario Job
    Mail Should Be Sent Within    15 min
    Watchdog Should Not Have Reset The Board
    Pool Should Return To Full    within=15 min

Release 2.0 Runs Out Of IP Buffers While Sending Content
    [Documentation]    2.1: "Added handling of incoming messages during sending of MAIL
    ...    content." Expected failure on 2.0: the client spins for a free TX buffer without
    ...    processing the ACKs that would free one; the watchdog resets the board and the
    ...    mail is never delivered.
    [Tags]    changelog-2.1    bug    release-2.0
    Start Scenario Server    buffer-exhaustion-during-content
    Boot Emulated Board    profile=2.0    pool_buffers=6
    Send Scenario Job
    Run Keyword And Expect Error    *no 'sent' event*
    ...    Wait For Device Event    sent    timeout=15 min
    Run Keyword And Expect Error    *watchdog reset the board*a free TX buffer*
    ...    Watchdog Should Not Have Reset The Board
    Mailbox Should Be Empty

Pipelined MAIL Refused With 550 Ends With command_abort
    [Documentation]    2.1: "Corrected handling of pipeline message for MAIL command (event
    ...    command_abort was not sent when mail failed)." The server refuses the pipelined
    ...    MAIL FROM; the client reports command_abort for MAIL.
    [Tags]    changelog-2.1    fixed
    Board On Release current Talks To The pipeline-mail-rejected Server
    Device Sends A Pressure Alarm
    Outcome Should Start With    command_abort    command_abort MAIL 550
    Mailbox Should Be Empty

Release 2.0 Says Nothing When A Pipelined MAIL Is Refused
    [Documentation]    2.1: "Corrected handling of pipeline message for MAIL command".
    ...    Expected failure on 2.0: the failed MAIL reply is dropped and the application
    ...    never hears about the job again: no command_abort within an hour.
    [Tags]    changelog-2.1    bug    release-2.0
    Board On Release 2.0 Talks To The pipeline-mail-rejected Server
    Device Sends A Pressure Alarm
    Run Keyword And Expect Error    *no 'command_abort' event within 3600 s*
    ...    Wait For Device Event    command_abort    timeout=1 hour

TLS Session Dropped Mid-Transaction Is Reported At Once
    [Documentation]    2.1: "Added checking of TLS connection state." The server drops TLS
    ...    after RCPT; the client reports ``error connection_lost`` within seconds.
    [Tags]    changelog-2.1    fixed
    Board On Release current Talks To The tls-drop-mid-transaction Server
    Send Scenario Job
    Outcome Should Start With    error    error connection_lost    timeout=10 s

Release 2.0 Does Not Notice A Dropped TLS Session
    [Documentation]    2.1: "Added checking of TLS connection state."
    ...    Expected failure on 2.0: the dropped session goes unnoticed and the job hangs.
    [Tags]    changelog-2.1    bug    release-2.0
    Board On Release 2.0 Talks To The tls-drop-mid-transaction Server
    Send Scenario Job
    No Outcome Should Be Reported Within    30 min
    Mailbox Should Be Empty

# ---- known issues (listed with 2.1) -----------------------------------------------------------

Outlook Anti-Spam Refusal Is Reported As command_abort DATA
    [Documentation]    Known issue: "Sending of mail to Outlook SMTP servers is difficult,
    ...    because anti-spam system blocks incoming emails." A server problem, not a client
    ...    bug: the refusal after the content must reach the application, on every release.
    [Tags]    known-issue    fixed
    Board On Release current Talks To The outlook-antispam-reject Server
    Send Scenario Job
    Outcome Should Start With    command_abort    command_abort DATA 550
    Mailbox Should Be Empty

Outlook Login Refused Without POP Is Reported As auth_failed
    [Documentation]    Known issue: "Outlook mail account need to have POP server enabled".
    ...    Outlook refuses the login (535); the job ends with ``error auth_failed``.
    [Tags]    known-issue    fixed
    Board On Release current Talks To The outlook-pop-disabled-auth Server
    Send Scenario Job
    Outcome Should Start With    error    error auth_failed
    Mailbox Should Be Empty

Server Checking The Date Refuses Mail From A Board Without Time
    [Documentation]    Known issue: "Some SMTP servers (active24) require a correct time to
    ...    be set in an email." With the RTC unset (1970) the server refuses the mail after
    ...    the content, and the client reports it.
    [Tags]    known-issue    fixed
    Start Scenario Server    active24-date-required
    Boot Emulated Board    profile=current    rtc=unset
    Device Sends A Pressure Alarm
    Outcome Should Start With    command_abort    command_abort DATA 554
    Mailbox Should Be Empty

Server Checking The Date Accepts Mail From A Board With Its RTC Set
    [Documentation]    Known issue: "So psp_rtc functions must return a correct date." With
    ...    the RTC set, the Date header is right and the server accepts the mail.
    [Tags]    known-issue    fixed
    Start Scenario Server    active24-date-required-rtc-set
    Boot Emulated Board    profile=current    rtc=2024-03-15 09:30:00
    Device Sends A Pressure Alarm
    Mail Should Be Sent Within    1 min
    Mail Header Should Be    Date    Fri, 15 Mar 2024 09:30:00 +0000

Release 2.3 Is Refused By A Server Checking The Date Even With Its RTC Set
    [Documentation]    Known issue with active24, made worse before 2.4: "Values of month
    ...    and day are converted properly." Expected failure on 2.3: the Date header is a
    ...    month off (14 Apr instead of 15 Mar), so the server refuses the mail.
    [Tags]    known-issue    bug    release-2.3
    Start Scenario Server    active24-date-required-rtc-set
    Boot Emulated Board    profile=2.3    rtc=2024-03-15 09:30:00
    Device Sends A Pressure Alarm
    Run Keyword And Expect Error    *no 'sent' event*command_abort DATA 554*
    ...    Wait For Device Event    sent    timeout=10 min

Silent Server Under TLS Times Out After Five Minutes
    [Documentation]    Known issue: "Timeout test is executed only when no TLS connection is
    ...    active." A server that goes silent inside TLS gets ``timeout MAIL after 300 s``.
    [Tags]    known-issue    fixed
    Board On Release current Talks To The silent-server-under-tls Server
    Send Scenario Job
    Outcome Should Start With    timeout    timeout MAIL after 300 s

Release 2.5 Waits Forever For A Silent Server Under TLS
    [Documentation]    Known issue: "Timeout test is executed only when no TLS connection is
    ...    active." Expected failure on 2.5 (and 2.0 to 2.4): no timeout runs while TLS is
    ...    up: an hour later the job has still not ended.
    [Tags]    known-issue    bug    release-2.5
    Board On Release 2.5 Talks To The silent-server-under-tls Server
    Send Scenario Job
    No Outcome Should Be Reported Within    1 hour

# ---- 2.0 (unnumbered) ------------------------------------------------------------------------

Client Upgrades To TLS With STARTTLS Before Logging In
    [Documentation]    2.0: "Added STARTTLS." The client upgrades the session and sends AUTH
    ...    only inside TLS.
    [Tags]    changelog-2.0    fixed
    Board On Release current Talks To The starttls Server
    Send Scenario Job
    Mail Should Be Sent Within    1 min
    Server Should Have Observed    tls_established
    Server Should Not Have Observed    auth_in_plaintext

Release 1.0 Sends Its Password In Plaintext
    [Documentation]    2.0: "Added STARTTLS." Expected failure on 1.0: no STARTTLS; the
    ...    mail goes through, but in plaintext, AUTH included.
    [Tags]    changelog-2.0    bug    release-1.0
    Board On Release 1.0 Talks To The starttls Server
    Send Scenario Job
    Mail Should Be Sent Within    1 min
    Run Keyword And Expect Error    *did not observe tls established*
    ...    Server Should Have Observed    tls_established
    Server Should Have Observed    auth_in_plaintext

Release 2.0 Runs IP Stack 4.11
    [Documentation]    2.0: "Updated to work with new IP Stack (4.11)."
    [Tags]    changelog-2.0    fixed
    Boot Emulated Board    profile=2.0
    Board Should Run IP Stack    4.11

Release 1.0 Runs The Older IP Stack
    [Documentation]    2.0: "Updated to work with new IP Stack (4.11)."
    ...    Expected failure on 1.0: it runs the IP stack before 4.11.
    [Tags]    changelog-2.0    bug    release-1.0
    Boot Emulated Board    profile=1.0
    Run Keyword And Expect Error    *runs IP stack 4.x*
    ...    Board Should Run IP Stack    4.11

Client Verifies A Mailbox And Starts A Remote Queue
    [Documentation]    2.0: "Added extra commands: Verify and ETRN."
    [Tags]    changelog-2.0    fixed
    Board On Release current Talks To The vrfy Server
    Send VRFY    ops@example.net
    Outcome Should Start With    vrfy_result    vrfy_result 250
    Send ETRN    example.com
    Outcome Should Start With    etrn_result    etrn_result 250

Release 1.0 Has No VRFY
    [Documentation]    2.0: "Added extra commands: Verify and ETRN."
    ...    Expected failure on 1.0: VRFY ends with ``error unsupported``.
    [Tags]    changelog-2.0    bug    release-1.0
    Board On Release 1.0 Talks To The vrfy Server
    Send VRFY    ops@example.net
    Run Keyword And Expect Error    *no 'vrfy_result' event*error unsupported*
    ...    Wait For Device Event    vrfy_result    timeout=1 min

Date Header Is The Device Clock's Time
    [Documentation]    2.0: "Mail message now has a real date and time sent."
    [Tags]    changelog-2.0    fixed
    Start Scenario Server    date-header
    Boot Emulated Board    profile=current    rtc=2024-11-28 16:45:00
    Device Sends A Pressure Alarm
    Mail Should Be Sent Within    1 min
    Mail Header Should Be    Date    Thu, 28 Nov 2024 16:45:00 +0000

Release 1.0 Writes The Same Fixed Date On Every Mail
    [Documentation]    2.0: "Mail message now has a real date and time sent."
    ...    Expected failure on 1.0: every mail says Mon, 01 Jan 2007 00:00:00.
    [Tags]    changelog-2.0    bug    release-1.0
    Start Scenario Server    date-header
    Boot Emulated Board    profile=1.0    rtc=2024-11-28 16:45:00
    Device Sends A Pressure Alarm
    Mail Should Be Sent Within    1 min
    Run Keyword And Expect Error    *Mon, 01 Jan 2007 00:00:00*
    ...    Mail Header Should Be    Date    Thu, 28 Nov 2024 16:45:00 +0000

Cc Bcc And Reply-To Reach Their Recipients
    [Documentation]    2.0: "Added new recipients CC, BCC, REPLY-TO." Cc and Reply-To are in
    ...    the headers; the Bcc recipient gets the mail without being shown.
    [Tags]    changelog-2.0    fixed
    Board On Release current Talks To A Plain SMTP Server
    Send Mail    ${DEVICE}    ${OPERATOR}    subject=Shift report    body=All nominal.
    ...    cc=shift-lead@example.net    bcc=audit@example.net    reply_to=maintenance@example.org
    Mail Should Be Sent Within    1 min
    Mail Header Should Be    Cc    shift-lead@example.net
    Mail Header Should Be    Reply-To    maintenance@example.org
    Mail Should Not Have Header    Bcc
    Mail Recipients Should Be    ${OPERATOR}    shift-lead@example.net    audit@example.net

Release 1.0 Sends To The To Recipient Only
    [Documentation]    2.0: "Added new recipients CC, BCC, REPLY-TO."
    ...    Expected failure on 1.0: Cc, Bcc and Reply-To are ignored.
    [Tags]    changelog-2.0    bug    release-1.0
    Board On Release 1.0 Talks To A Plain SMTP Server
    Send Mail    ${DEVICE}    ${OPERATOR}    subject=Shift report    body=All nominal.
    ...    cc=shift-lead@example.net    bcc=audit@example.net    reply_to=maintenance@example.org
    Mail Should Be Sent Within    1 min
    Run Keyword And Expect Error    *has no Cc header*
    ...    Mail Should Have Header    Cc
    Run Keyword And Expect Error    *went to ${OPERATOR}, expected*
    ...    Mail Recipients Should Be    ${OPERATOR}    shift-lead@example.net    audit@example.net

Mail Carries Text And Binary Attachments
    [Documentation]    2.0: "Added sending of /attachments."
    [Tags]    changelog-2.0    fixed
    @{files}=    Create Attachment Files
    Board On Release current Talks To A Plain SMTP Server
    Send Mail    ${DEVICE}    ${OPERATOR}    subject=Logs    body=Logs attached.
    ...    attachments=${files}
    Mail Should Be Sent Within    1 min
    Mail Attachments Should Be    trend.csv    core.bin

Release 1.0 Sends No Attachments
    [Documentation]    2.0: "Added sending of /attachments."
    ...    Expected failure on 1.0: the mail arrives without its attachments.
    [Tags]    changelog-2.0    bug    release-1.0
    @{files}=    Create Attachment Files
    Board On Release 1.0 Talks To A Plain SMTP Server
    Send Mail    ${DEVICE}    ${OPERATOR}    subject=Logs    body=Logs attached.
    ...    attachments=${files}
    Mail Should Be Sent Within    1 min
    Run Keyword And Expect Error    *carries the attachments (none)*
    ...    Mail Attachments Should Be    trend.csv    core.bin

Client Asks For Delivery Status Notifications
    [Documentation]    2.0: "Added delivery status notification." The ``dsn`` scenario's
    ...    server insists on RET, ENVID and NOTIFY parameters.
    [Tags]    changelog-2.0    fixed
    Run Scenario    dsn    profile=current
    Scenario Should Pass

Release 1.0 Sends No DSN Parameters
    [Documentation]    2.0: "Added delivery status notification."
    ...    Expected failure on 1.0: MAIL FROM has no RET/ENVID, and the server refuses it.
    [Tags]    changelog-2.0    bug    release-1.0
    Run Scenario    dsn    profile=1.0
    Scenario Should Fail    containing=command_abort MAIL 555

Content Goes In BDAT Chunks
    [Documentation]    2.0: "Added Chunking support." A server that takes content only with
    ...    BDAT, in chunks of at most 64 octets, receives the whole mail.
    [Tags]    changelog-2.0    fixed
    Board On Release current Talks To The chunking Server
    Send Scenario Job
    Mail Should Be Sent Within    1 min
    Mail Should Have Arrived Via    BDAT

Release 1.0 Cannot Send To A BDAT-Only Server
    [Documentation]    2.0: "Added Chunking support."
    ...    Expected failure on 1.0: it knows only DATA, which the server refuses (503).
    [Tags]    changelog-2.0    bug    release-1.0
    Board On Release 1.0 Talks To The chunking Server
    Send Scenario Job
    Run Keyword And Expect Error    *no 'sent' event*command_abort DATA 503*
    ...    Wait For Device Event    sent    timeout=10 min

Commands Are Pipelined
    [Documentation]    2.0: "Added Pipelining support." MAIL, every RCPT and DATA go in one
    ...    group.
    [Tags]    changelog-2.0    fixed
    Board On Release current Talks To The pipelining Server
    Send Scenario Job
    Mail Should Be Sent Within    1 min
    Server Should Have Observed    pipelined

Release 1.0 Waits For Each Reply
    [Documentation]    2.0: "Added Pipelining support."
    ...    Expected failure on 1.0: one command per round trip.
    [Tags]    changelog-2.0    bug    release-1.0
    Board On Release 1.0 Talks To The pipelining Server
    Send Scenario Job
    Mail Should Be Sent Within    1 min
    Run Keyword And Expect Error    *did not observe pipelined*
    ...    Server Should Have Observed    pipelined

Mail Over The Server's SIZE Limit Is Refused Before Sending
    [Documentation]    2.0: "Added SIZE support." The server takes at most 1024 octets; the
    ...    client refuses the 2.7 KB log itself, before MAIL FROM.
    [Tags]    changelog-2.0    fixed
    Board On Release current Talks To The size-limit Server
    Send Scenario Job
    Outcome Should Start With    error    error size_exceeded
    Server Observation Should Be    mail_count    ${0}

Release 1.0 Sends A Mail The Server Will Refuse For Its Size
    [Documentation]    2.0: "Added SIZE support."
    ...    Expected failure on 1.0: it ignores SIZE, sends the whole content, and the server
    ...    refuses it after the data (552).
    [Tags]    changelog-2.0    bug    release-1.0
    Board On Release 1.0 Talks To The size-limit Server
    Send Scenario Job
    Run Keyword And Expect Error    *no 'error' event*command_abort DATA 552*
    ...    Wait For Device Event    error    timeout=10 min

Client Logs In With CRAM-MD5 PLAIN And ANONYMOUS
    [Documentation]    2.0: "New Authentication methods: CRAM-MD5, PLAIN and ANONYMOUS"
    [Tags]    changelog-2.0    fixed
    FOR    ${mechanism}    IN    CRAM-MD5    PLAIN    ANONYMOUS
        Shut Down Emulated Board
        Board On Release current Talks To The auth-${mechanism.lower()} Server
        Send Scenario Job
        Outcome Should Start With    authenticated    authenticated ${mechanism}
        Mail Should Be Sent Within    1 min
    END

Release 1.0 Has No CRAM-MD5
    [Documentation]    2.0: "New Authentication methods: CRAM-MD5, PLAIN and ANONYMOUS"
    ...    Expected failure on 1.0: it knows only LOGIN; the job ends with auth_failed.
    [Tags]    changelog-2.0    bug    release-1.0
    Board On Release 1.0 Talks To The auth-cram-md5 Server
    Send Scenario Job
    Run Keyword And Expect Error    *no 'authenticated' event*error auth_failed*
    ...    Wait For Device Event    authenticated    timeout=1 min

MISRA Check And Code Review
    [Documentation]    2.0: "MISRA check and code review done." A statement about how the
    ...    code was made, with no behaviour a test can observe.
    [Tags]    changelog-2.0    not-testable
    Skip    Nothing to observe: MISRA conformance and code review are not behaviour.

# ---- 1.0 ---------------------------------------------------------------------------------------

Initial Release Sends A Mail With AUTH LOGIN
    [Documentation]    1.0: "Initial release." Plain SMTP with AUTH LOGIN works on the
    ...    first release, and still on current.
    [Tags]    changelog-1.0    fixed
    FOR    ${release}    IN    1.0    current
        Shut Down Emulated Board
        Board On Release ${release} Talks To The auth-login Server
        Send Scenario Job
        Outcome Should Start With    authenticated    authenticated LOGIN
        Mail Should Be Sent Within    1 min
        Mail Count Should Be    1
    END

# ---- our own release: not in the changelog -----------------------------------------------

Stripped STARTTLS Is Reported Before The Mail Goes In Plaintext
    [Documentation]    Not in the changelog: our own release. With opportunistic TLS
    ...    (security = "starttls") and STARTTLS stripped from the EHLO reply, the mail still
    ...    goes, in plaintext, but the application hears it first: tls_downgraded.
    [Tags]    current-only    fixed
    Board On Release current Talks To The starttls-stripped-opportunistic Server
    Send Scenario Job
    ${event}=    Wait For Device Event    tls_downgraded    timeout=1 min
    Should Be Equal    ${event}    tls_downgraded not_offered
    Mail Should Be Sent Within    1 min
    Server Should Not Have Observed    tls_established

Release 2.5 Sends In Plaintext Without A Word When STARTTLS Is Stripped
    [Documentation]    Not in the changelog. Expected failure on 2.5 (and 2.0 to 2.4): the
    ...    mail goes in plaintext, and no tls_downgraded event ever tells the application.
    [Tags]    current-only    bug    release-2.5
    Board On Release 2.5 Talks To The starttls-stripped-opportunistic Server
    Send Scenario Job
    Run Keyword And Expect Error    *reported no 'tls_downgraded' event*sent 250*
    ...    Wait For Device Event    tls_downgraded    timeout=1 min
    Mail Count Should Be    1


*** Keywords ***
Create Attachment Files
    [Documentation]    A CSV trend log and a small binary core dump, in the output folder.
    Create File    ${OUTPUT DIR}/attachments/trend.csv    time;bar\n10:00;4.0\n10:15;4.7\n
    Create Binary File    ${OUTPUT DIR}/attachments/core.bin    \x00\x01\x02\xff\xfe\r\n.\r\n
    @{files}=    Create List    ${OUTPUT DIR}/attachments/trend.csv
    ...    ${OUTPUT DIR}/attachments/core.bin
    RETURN    @{files}
