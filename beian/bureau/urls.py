from django.urls import path

from beian.bureau.api import api
from beian.bureau.sim_api import sim

urlpatterns = [
    path("api/v1/", api.urls),
    path("sim/v1/", sim.urls),
]
