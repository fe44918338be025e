"""gunicorn defaults for `microcred serve`; the command's options win.

Sync workers (gunicorn's default) unless `--threads N` > 1, which selects gthread workers.
Run behind a buffering reverse proxy (nginx, a load balancer) in production, as gunicorn
recommends for sync workers; set MICROCRED_PROXY_FIX_HOPS accordingly.
"""

worker_class = "sync"
threads = 1
timeout = 60
graceful_timeout = 20
keepalive = 5
# No access log by default (gunicorn's own default; a proxy in front usually logs).
# `microcred serve --access-log` turns it on. It never prints query strings: in-LMS pages
# carry a session token there.
accesslog = None
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
