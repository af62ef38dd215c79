"""The local telephony adapter: Kamailio (SIP registrar and proxy) plus pjsua2 media worker processes.

``guanxi telephony run`` writes a Kamailio config (``kamailio.py``), starts Kamailio and N media workers
(``worker.py``, each at most 4 concurrent SIP calls) and restarts any that die (``supervisor.py``). Agents' phones
register with Kamailio; calls for any number no phone registered are spread over the media workers, which speak the
call-control protocol of docs/telephony.md over HTTP (``POST /api/v1/telephony/events``) and carry out its verbs.
"""
