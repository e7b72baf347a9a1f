import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "beian.settings")
django_application = get_wsgi_application()
application = django_application

if settings.SERVES_BUREAU:  # the bureau's modules exist only where its app is installed
    from beian.bureau import query_handler

    # The public query's API by its lean handler, everything else by Django's (beian/bureau/query_handler.py).
    application = query_handler.mount(django_application)
