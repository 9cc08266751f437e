"""The SIP transport of the phone line: xiaoyuan as its own SIP endpoint (`xiaoyuan phone`).

Only `voice.sip.stack` imports PJSIP's pjsua2 (GPLv2, an optional extra in requirements-sip.txt), and
only the `xiaoyuan phone` process imports that module; everything else here is plain Python.
"""
