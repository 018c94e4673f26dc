"""How every socbal MQTT connection reaches its broker: the login and TLS of a :class:`~socbal.runtime.config.MqttConfig`
as aiomqtt takes them, checked once at start, and one line naming the fields to fix when the broker refuses them.

:func:`checked_password` reads the password and loads the TLS files before anything connects (:class:`InputError`
naming the field); :class:`BrokerConnection` makes each connection attempt's :class:`aiomqtt.Client` and says why one
failed. A refusal no retry can help (:meth:`BrokerConnection.refusal`): a refused login (CONNACK 4, 5, 134, 135), a
broker certificate that is not trusted or does not name the host, a client certificate the broker refuses. Under TLS
1.3 the broker refuses a client certificate only after the handshake, while aiomqtt waits for CONNACK (it then times
out, saying no more); paho logs the broker's TLS alert meanwhile, and :class:`ConnectLog` (aiomqtt's ``logger``) keeps it.
"""

from __future__ import annotations

import logging
import re
import ssl

import aiomqtt
from aiomqtt.exceptions import MqttConnectError  # a refused CONNACK (not exported by aiomqtt itself)
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import SecretStr

from socbal.errors import InputError
from socbal.runtime.config import TLS_FILES, MqttConfig, TlsConfig

#: CONNACK codes of a broker refusing the login (MQTT 3.1.1: 4 bad user name or password, 5 not authorised; MQTT 5:
#: 134, 135): trying again with the same login cannot help.
LOGIN_REFUSED = frozenset({4, 5, 134, 135})
#: OpenSSL verify codes of a certificate that does not name the host (X509_V_ERR_HOSTNAME_MISMATCH, _IP_ADDRESS_MISMATCH).
NAME_MISMATCH = frozenset({62, 64})
#: Seconds aiomqtt waits for the broker (connect, CONNACK, each acknowledgement).
TIMEOUT_S = 5.0
_SSL_TEXT = re.compile(r"^\[SSL: \w+\] (.*?)(?: \(_ssl\.c:\d+\))?$")


def tls_context(tls: TlsConfig) -> ssl.SSLContext:
    """The TLS context of ``tls``: its CA (system CAs when none), its client certificate and key, no host-name check
    when ``insecure``; :class:`InputError` naming the field whose file is missing or not usable."""
    for name in TLS_FILES:
        path = getattr(tls, name)
        if path is not None and not path.is_file():
            raise InputError(f"tls.{name}: file {path} does not exist")
    try:
        ctx = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)
    except (OSError, ValueError) as err:  # ssl.SSLError is an OSError
        raise InputError(f"tls.ca_file: file {tls.ca_file} is not a usable CA certificate (PEM): {ssl_text(err)}") from None
    if tls.cert_file is not None:
        try:
            ctx.load_cert_chain(str(tls.cert_file), str(tls.key_file) if tls.key_file else None)
        except OSError as err:
            if isinstance(err, ssl.SSLError) and err.reason == "KEY_VALUES_MISMATCH":
                raise InputError(f"tls.key_file: file {tls.key_file} is not the key of tls.cert_file {tls.cert_file}") from None
            key = f" / tls.key_file {tls.key_file}" if tls.key_file else " (holding the key)"
            files = f"tls.cert_file {tls.cert_file}{key}"
            raise InputError(f"{files}: not a usable certificate and private key (PEM): {ssl_text(err)}") from None
    if tls.insecure:
        ctx.check_hostname = False
    return ctx


def client_kwargs(cfg: MqttConfig, password: SecretStr | None, identifier: str, will: aiomqtt.Will | None) -> dict:
    """Keyword arguments for :class:`aiomqtt.Client` (credentials and TLS per the config; :class:`InputError` naming
    the TLS field whose file is missing or not usable)."""
    kwargs: dict = dict(
        hostname=cfg.host, port=cfg.port, identifier=identifier, keepalive=cfg.keepalive_s, will=will, timeout=TIMEOUT_S
    )
    if cfg.username is not None:
        kwargs["username"] = cfg.username
        kwargs["password"] = password.get_secret_value() if password is not None else None
    if cfg.tls is not None:
        kwargs["tls_context"] = tls_context(cfg.tls)
        kwargs["tls_insecure"] = cfg.tls.insecure
    return kwargs


def check_tls(cfg: MqttConfig, what: str) -> None:
    """:class:`InputError` (``what: tls.ca_file: ...``) unless ``cfg``'s TLS files exist and load."""
    if cfg.tls is not None:
        try:
            tls_context(cfg.tls)
        except InputError as err:
            raise InputError(f"{what}: {err}") from None


def checked_password(cfg: MqttConfig, what: str) -> SecretStr | None:
    """The password of ``cfg``'s login, once its TLS files are found and load; :class:`InputError` naming the field
    (``what: tls.ca_file: ...``, ``what: mqtt password: ...``) otherwise, never showing the password."""
    password = cfg.password(f"{what}: mqtt password")
    check_tls(cfg, what)
    return password


def ssl_text(err: BaseException) -> str:
    """An OpenSSL error without its ``[SSL: CODE]`` prefix and ``(_ssl.c:N)`` suffix."""
    text = str(err.args[1]) if isinstance(err, ssl.SSLError) and len(err.args) > 1 else str(err)
    match = _SSL_TEXT.match(text)
    return match.group(1) if match else text


class ConnectLog(logging.Logger):
    """aiomqtt's (and so paho's) logger for one broker connection: passes each record on to the ``mqtt`` logger, as
    aiomqtt's own would, but keeps a TLS error paho logs (``tls_error``, whatever the log level) for
    :meth:`BrokerConnection.describe` to say."""

    def __init__(self) -> None:
        super().__init__("mqtt")
        self.parent = logging.getLogger("mqtt")
        self.tls_error: ssl.SSLError | None = None

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 - logging's name
        return level >= logging.ERROR or (self.parent is not None and self.parent.isEnabledFor(level))

    def handle(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        tls = next((a for a in args if isinstance(a, ssl.SSLError)), None)
        if tls is not None:
            self.tls_error = tls  # said in the one line of :meth:`BrokerConnection.describe`, not here too
        elif self.parent is not None and self.parent.isEnabledFor(record.levelno):
            super().handle(record)


def _is_certificate_alert(err: ssl.SSLError) -> bool:
    """A TLS alert the broker sent about socbal's client certificate (missing, unknown CA, bad, expired...)."""
    reason = str(err.reason or "")
    return "ALERT" in reason and ("CERTIFICATE" in reason or "UNKNOWN_CA" in reason)


class BrokerConnection:
    """One configured broker connection (host, login, TLS): :meth:`client` for each attempt, :meth:`refusal` and
    :meth:`describe` for one that failed. ``extra``: more :class:`aiomqtt.Client` arguments (e.g. ``queue_type``)."""

    def __init__(
        self, cfg: MqttConfig, password: SecretStr | None, identifier: str, will: aiomqtt.Will | None = None, **extra: object
    ) -> None:
        self.cfg = cfg
        self.log = ConnectLog()
        self.kwargs = {**client_kwargs(cfg, password, identifier, will), "logger": self.log, **extra}

    @property
    def broker(self) -> str:
        """``host:port``."""
        return f"{self.cfg.host}:{self.cfg.port}"

    def client(self) -> aiomqtt.Client:
        """A new client for one connection attempt (use as ``async with``)."""
        self.log.tls_error = None
        return aiomqtt.Client(**self.kwargs)

    def refusal(self, err: BaseException) -> str | None:
        """One line saying which fields to fix when ``err`` is the broker refusing this login or TLS (no retry can
        help); None for any other error (a lost or unreachable broker is worth retrying)."""
        cfg, context = self.cfg, err.__context__
        if isinstance(err, MqttConnectError):
            code = err.rc.value if isinstance(err.rc, ReasonCode) else err.rc
            if code not in LOGIN_REFUSED:
                return None
            who = f"the user {cfg.username!r}" if cfg.username is not None else "a client without username"
            fix = "password_env / password_file" if cfg.username is not None else "username and password_env / password_file"
            return f"mqtt broker {self.broker} refused {who} ({err}): check {fix}"
        if isinstance(context, ssl.SSLCertVerificationError):
            why = context.verify_message
            if context.verify_code in NAME_MISMATCH:
                return (
                    f"mqtt broker {self.broker}: its certificate does not name {cfg.host} ({why}): set host to a name it "
                    "holds, or tls.insecure = true to skip the host-name check"
                )
            return f"mqtt broker {self.broker}: its certificate is not trusted ({why}): check tls.ca_file"
        alert = context if isinstance(context, ssl.SSLError) else self.log.tls_error
        if alert is not None and _is_certificate_alert(alert):
            if cfg.tls is None or cfg.tls.cert_file is None:
                return f"mqtt broker {self.broker} wants a client certificate ({ssl_text(alert)}): give tls.cert_file / key_file"
            return f"mqtt broker {self.broker} refused the client certificate ({ssl_text(alert)}): check tls.cert_file / key_file"
        return None

    def describe(self, err: BaseException) -> str:
        """One line on a failed or lost connection: the refusal, or the error (the TLS error paho logged, when aiomqtt
        only timed out)."""
        refused = self.refusal(err)
        if refused is not None:
            return refused
        tls = self.log.tls_error
        return f"mqtt broker {self.broker}: {err}" + (f" (TLS: {ssl_text(tls)})" if tls is not None else "")
