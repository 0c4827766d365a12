"""``[server.certificate]``: the certificate the scripted server presents, of any kind a
client must refuse (hostile-servers.md row 11).

``kind`` is one of :data:`stack.tls.badcerts.CERTIFICATE_KINDS` (``valid``,
``self_signed``, ``unknown_ca``, ``expired``, ``not_yet_valid``, ``wrong_name``,
``weak_key``, ``weak_signature``); ``names``, ``valid_from_days``/``valid_until_days``
(days relative to the device's RTC in the simulation, to the host clock for a client
program), ``key`` and ``signature`` override the kind's defaults. What the device trusts
is ``device.trusts`` (:mod:`scenarios.format.device`).

This module knows the table's keys and how they map onto
:class:`stack.tls.badcerts.CertificateSpec`; nothing of the other sections.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from scenarios.format.vocabulary import STRICT
from smtp.inputwording import problems_error
from stack.tls.badcerts import CertificateKind, CertificateSpec
from stack.tls.certs import KeyType, SignatureHash

Days = Annotated[int, Field(ge=-36500, le=36500)]


class CertificateSection(BaseModel):
    """``[server.certificate]``: a kind, and overrides of that kind's defaults."""

    model_config = STRICT
    kind: CertificateKind = "valid"
    names: Annotated[list[Annotated[str, Field(min_length=1, pattern=r"^\S+$")]],
                     Field(min_length=1)] | None = None
    """The subjectAltNames (host names or IP literals)."""
    valid_from_days: Days | None = None
    valid_until_days: Days | None = None
    key: KeyType | None = None
    signature: SignatureHash | None = None

    @model_validator(mode="after")
    def _check_certificate(self) -> CertificateSection:
        try:
            self.to_spec(None)
        except ValueError as exc:
            field, _, message = str(exc).partition(": ")
            raise problems_error([((field,), message)]) from None
        return self

    def to_spec(self, default_key: Literal["rsa", "ecdsa"] | None) -> CertificateSpec:
        """The spec; ``default_key`` (``server.tls_cert``) when neither ``key`` nor the
        kind chooses one."""
        key = self.key
        if key is None and self.kind != "weak_key":
            key = default_key
        return CertificateSpec(
            kind=self.kind, names=tuple(self.names) if self.names is not None else None,
            valid_from_days=self.valid_from_days, valid_until_days=self.valid_until_days,
            key=key, signature=self.signature)
