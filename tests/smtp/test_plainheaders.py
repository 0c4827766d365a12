"""Plain address and Subject lines: the same bytes as the ``email`` package, or no answer."""

from email.headerregistry import Address

from hypothesis import event, given, settings
from hypothesis import strategies as st

from smtp.message import MailJob, MessageBuilder, fold_headers
from smtp.plainheaders import plain_address_headers

# Characters that matter to the email package: atext, specials, space, dots, quotes,
# non-ASCII, and the start of an encoded word.
# Half of the values drawn from what the plain path takes, half from anything.
_local = st.one_of(st.from_regex(r"[a-z0-9+_-]{1,6}(\.[a-z0-9!#'=?-]{1,5}){0,2}", fullmatch=True),
                   st.text(alphabet="ab.Z9!#'+=?_-\" ()<>,;:\\é", min_size=1, max_size=12))
_domain = st.one_of(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,5}[a-z0-9])?(\.[a-z]{1,4}){0,2}",
                                  fullmatch=True),
                    st.text(alphabet="ab-.9[]é", min_size=1, max_size=12))
_address = st.builds(lambda local, domain: f"{local}@{domain}", _local, _domain)
_WORD = r"[A-Za-z0-9:,.;()!/_'=?-]{1,8}"
_subject = st.one_of(st.from_regex(rf"{_WORD}( {_WORD}){{0,9}}", fullmatch=True),
                     st.text(alphabet="aZ =?_\t\"é,.;()-", max_size=90))


def _email_package(headers: list[tuple[str, tuple[str, ...]]], subject: str) -> bytes:
    listed: list[tuple[str, object]] = []
    for name, addresses in headers:
        mailboxes = [Address(username=a.rpartition("@")[0], domain=a.rpartition("@")[2])
                     for a in addresses]
        listed.append((name, mailboxes[0] if name == "From" else mailboxes))
    listed.append(("Subject", subject))
    return fold_headers(listed, utf8_names=frozenset())


@settings(max_examples=400)
@given(_address, st.lists(_address, min_size=1, max_size=4), _subject)
def test_plain_lines_are_what_the_email_package_writes(
        sender: str, to: list[str], subject: str) -> None:
    headers = [("From", (sender,)), ("To", tuple(to))]
    plain = plain_address_headers(headers, subject)
    event("plain" if plain is not None else "email package")
    if plain is not None:
        assert plain == _email_package(headers, subject)


def test_a_typical_device_mail_takes_the_plain_path() -> None:
    headers = [("From", ("pump7@example.com",)), ("To", ("ops@example.net", "a.b@c.d"))]
    plain = plain_address_headers(headers, "Pump 7: pressure low")
    assert plain == (b"From: pump7@example.com\r\nTo: ops@example.net, a.b@c.d\r\n"
                     b"Subject: Pump 7: pressure low\r\n")
    assert plain == _email_package(headers, "Pump 7: pressure low")


def test_values_the_email_package_must_write_get_no_plain_answer() -> None:
    to = [("To", ("ops@example.net",))]
    assert plain_address_headers(to, "Grüße") is None  # RFC 2047
    assert plain_address_headers(to, "=?utf-8?q?x?=") is None  # looks encoded
    assert plain_address_headers(to, "x" * 80) is None  # folded
    assert plain_address_headers(to, "") is None
    assert plain_address_headers([("To", ('"a b"@example.net',))], "hi") is None  # quoted


def test_builder_output_is_unchanged_with_a_display_name_or_plain() -> None:
    plain = MailJob(sender="pump7@example.com", to=("ops@example.net",), subject="Hi",
                    body="x\n")
    named = MailJob(sender="pump7@example.com", to=("ops@example.net",), subject="Hi",
                    body="x\n", sender_name="Pump 7")
    kwargs = {"date_header": "Mon, 02 Jun 2025 12:00:00 +0000",
              "message_id_domain": "example.com", "message_id_seq": 1, "boundary_seed": 1}
    plain_bytes = b"".join(MessageBuilder(plain, **kwargs).chunks())  # type: ignore[arg-type]
    named_bytes = b"".join(MessageBuilder(named, **kwargs).chunks())  # type: ignore[arg-type]
    assert plain_bytes.startswith(
        b"From: pump7@example.com\r\nTo: ops@example.net\r\nSubject: Hi\r\n")
    assert named_bytes.startswith(b"From: Pump 7 <pump7@example.com>\r\n")
