"""gunicorn defaults for `microcred serve`; values on the command line win."""

# The access log never prints query strings: in-LMS pages carry a session token there.
accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
worker_class = "gthread"
threads = 4
timeout = 60
graceful_timeout = 20
keepalive = 5
