"""Stand-ins for the carrier and the PBX: an SMSC and an Asterisk (AMI + AGI) simulator.

Product code, in the spirit of Kannel's ``fakesmsc``: they let an integrator run pingjing end to
end (``make demo``, ``pingjing simulate smsc``, ``pingjing simulate pbx``) before a carrier link
or a PBX exists. They speak the real wire protocols over TCP and behave, by default, like the
citizens of a small city; every decision is a pure function of a seed, so two runs with the same
seed and the same traffic produce the same replies and the same call outcomes.
"""
