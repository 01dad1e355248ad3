"""twistd plugin: ``twistd -n pingjing --config FILE`` runs the pingjing daemon."""

from __future__ import annotations

from twisted.application.service import ServiceMaker

pingjing = ServiceMaker(
    "pingjing",
    "gateway.tap",
    "SMS evaluation and voice callback gateway (短信评警、语音回访)",
    "pingjing",
)
