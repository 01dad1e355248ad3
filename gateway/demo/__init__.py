"""``pingjing demo``: the whole loop on one machine (see ``gateway.demo.run``)."""
