"""The txamqp 0.8.2 fixes: byte vectors for the codec, and Chinese through the real broker."""

import warnings
from decimal import Decimal
from io import BytesIO

import pytest
import pytest_twisted
from txamqp import codec as tx_codec
from txamqp import connection as tx_connection

from gateway.amqp import compat
from tests.surveys.amqp_support import Broker, unique_settings

compat.install()


def encode(method, value):
    buf = BytesIO()
    c = tx_codec.Codec(buf)
    getattr(c, method)(value)
    c.flush()
    return buf.getvalue()


def decode(method, data):
    return getattr(tx_codec.Codec(BytesIO(data)), method)()


def test_shortstr_length_counts_utf8_bytes():
    """``户籍`` is 6 bytes: the length octet says 6, not 2."""
    assert encode("encode_shortstr", "户籍") == b"\x06" + "户籍".encode()


def test_longstr_length_counts_utf8_bytes():
    assert encode("encode_longstr", "不满意") == b"\x00\x00\x00\x09" + "不满意".encode()


def test_overlong_shortstr_is_refused():
    with pytest.raises(ValueError, match="exceeds"):
        encode("encode_shortstr", "中" * 100)


def test_body_frame_stays_bytes():
    """A body that happens to be valid UTF-8 is not turned into text (its size is in bytes)."""
    data = "评价".encode()
    frame = tx_connection.Body.decode(None, tx_codec.Codec(BytesIO(b"\x00\x00\x00\x06" + data)))
    assert frame.content == data


def test_field_table_round_trips_chinese_and_every_type():
    table = {
        "reason": "category: 类别不对",
        "n": -5,
        "big": 2**40,
        "ok": True,
        "ratio": 0.5,
        "raw": b"\x00\x01",
        "nested": {"单位": "城关派出所"},
        "list": [1, "二", False],
        "none": None,
    }
    assert decode("decode_table", encode("encode_table", table)) == table


def test_table_from_another_client_with_timestamp_and_int8_decodes():
    """Types txamqp 0.8.2 did not know (``T``, ``b``, ``l``) no longer break the frame decoder."""
    body = (
        b"\x02tsT"
        + (1700000000).to_bytes(8, "big")
        + b"\x01bb\xff"
        + b"\x01ll"
        + (7).to_bytes(8, "big")
    )
    data = len(body).to_bytes(4, "big") + body
    assert decode("decode_table", data) == {"ts": 1700000000, "b": -1, "l": 7}


def test_decimal_from_another_client_encodes_back_unchanged():
    """A ``D`` header (Java's BigDecimal) is re-encoded when an event is dead-lettered."""
    body = b"\x06amountD\x02" + (-1250).to_bytes(4, "big", signed=True)
    data = len(body).to_bytes(4, "big") + body
    table = decode("decode_table", data)
    assert table == {"amount": Decimal("-12.50")}
    assert encode("encode_table", table) == data
    assert decode("decode_table", encode("encode_table", {"n": Decimal("3E+2")})) == {"n": 300}


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("1E-300"), Decimal(2**40)])
def test_decimal_beyond_the_amqp_format_is_refused(value):
    with pytest.raises(ValueError):
        encode("encode_table", {"n": value})


def test_property_with_underscore_is_sent_with_the_spec_name():
    content = compat.make_content("体", content_type="application/json")
    assert content.properties["content-type"] == "application/json"
    assert content.properties["delivery-mode"] == 2
    assert content.body == "体".encode()


def test_unknown_property_name_is_refused_not_dropped():
    with pytest.raises(ValueError, match="unknown AMQP basic property 'delivery_mod'"):
        compat.make_content(b"x", delivery_mod=2)


def test_spec_is_amqp_0_9_1_from_the_package():
    spec = compat.load_spec()
    assert (spec.major, spec.minor) == (0, 9)
    assert "tx" in [c.name for c in spec.classes]


def test_returnvalue_warning_from_txamqp_is_filtered():
    """Exactly the deprecation of returnValue raised inside txamqp is silenced."""
    message = (
        "twisted.internet.defer.returnValue was deprecated in Twisted 24.7.0; "
        "please use standard return statement instead"
    )
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        compat.filter_returnvalue_warning()
        warnings.warn_explicit(
            message, DeprecationWarning, "protocol.py", 1, module="txamqp.protocol"
        )
        warnings.warn_explicit(message, DeprecationWarning, "ours.py", 1, module="gateway.ours")
        warnings.warn_explicit(
            "other", DeprecationWarning, "protocol.py", 2, module="txamqp.protocol"
        )
    assert [str(w.message) for w in seen] == [message, "other"]


@pytest.mark.rabbitmq
@pytest_twisted.inlineCallbacks
def test_chinese_body_and_headers_cross_the_real_broker(amqp_params):
    """A UTF-8 Chinese body and header values go to RabbitMQ and come back byte-identical."""
    settings = unique_settings(amqp_params)
    broker = yield Broker.connect(amqp_params)
    try:
        yield broker.declare(settings)
        body = '{"business": "户籍办理", "citizen_name": "张三"}'.encode()
        broker.publish(settings.queue, body, headers={"原因": "类别不对", "n": 3})
        reply = yield broker.get(settings.queue)
        assert compat.body_bytes(reply.content) == body
        assert reply.content.properties["headers"] == {"原因": "类别不对", "n": 3}
        big = ("评价" * 100_000).encode()  # several frames
        broker.publish(settings.queue, big)
        reply = yield broker.get(settings.queue)
        assert compat.body_bytes(reply.content) == big
    finally:
        yield broker.cleanup(settings)


# --- a frame beyond frame_max ------------------------------------------------------------


def oversize_client():
    from twisted.internet.task import Clock
    from twisted.internet.testing import StringTransport
    from txamqp.client import TwistedDelegate
    from txamqp.protocol import AMQClient

    compat.install()
    client = AMQClient(TwistedDelegate(), "/", compat.load_spec(), heartbeat=0, clock=Clock())
    transport = StringTransport()
    client.makeConnection(transport)
    client.MAX_LENGTH = 1000
    return client, transport


def test_an_unfinished_frame_beyond_frame_max_drops_the_connection_with_a_clear_error():
    from twisted.logger import LogLevel, globalLogPublisher

    client, transport = oversize_client()
    seen = []
    globalLogPublisher.addObserver(seen.append)
    try:
        # a body frame on channel 1 declaring 5,000 bytes, of which 1,500 have arrived
        client.dataReceived(bytes([3, 0, 1]) + (5000).to_bytes(4, "big") + b"\xe4" * 1500)
    finally:
        globalLogPublisher.removeObserver(seen.append)
    assert transport.disconnecting
    errors = [e for e in seen if e.get("log_level") == LogLevel.error]
    assert len(errors) == 1
    what = errors[0]["what"]
    assert "frame type 3 on channel 1 declares a payload of 5000 bytes" in what
    assert "1507 bytes buffered" in what and "limit of 1000" in what
    assert "\xe4" not in what  # the payload itself is never logged


def test_a_frame_within_frame_max_still_waits_for_its_end():
    client, transport = oversize_client()
    client.dataReceived(bytes([3, 0, 1]) + (900).to_bytes(4, "big") + b"x" * 500)
    assert not transport.disconnecting


def test_a_short_unframed_buffer_is_described_without_a_header():
    assert compat.describe_oversize_frame(b"\x01\x00", 10) == (
        "2 bytes buffered without a complete frame header (limit 10)"
    )
