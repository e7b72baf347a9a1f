"""beian's URLs and `/bench/pk?id=N`: the cheapest database answer Django can give, for comparison."""

from django.http import HttpRequest, JsonResponse
from django.urls import path

from beian.bureau.models import Website
from beian.urls import urlpatterns as beian_urls


def by_primary_key(request: HttpRequest) -> JsonResponse:
    number = Website.objects.filter(pk=int(request.GET.get("id", "0"))).values_list("number", flat=True).first()
    return JsonResponse({"number": number})


urlpatterns = [path("bench/pk", by_primary_key), *beian_urls]
