"""The simulation's management interface at /bureau/sim/v1/ (in the spirit of Pebble's): force a
decision, move the clock, read what a phone or address received, switch an outage on and off, make
a share of requests fail or lose their answer.
Served only when BEIAN_SIMULATION is on; it is a test double's control panel, not a public API."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from ninja import Query, Schema

from beian.bureau import api as bureau_api
from beian.bureau import holidays, outbox, review, simulation, work
from beian.bureau.errors import BureauError
from beian.bureau.models import Operation
from beian.bureau.schemas import (
    AdvanceIn,
    AdvanceOut,
    ClockOut,
    DecisionIn,
    DecisionOut,
    FaultsIn,
    FaultsOut,
    OutageIn,
    OutageOut,
    ReceivedListOut,
    WorkDoneOut,
)
from beian.bureau.transitions import Actor
from beian.core import clock
from beian.httpapi import JSONOnly, ProblemAPI, ReadableJSON, Text
from beian.messaging import send

sim = ProblemAPI(
    renderer=ReadableJSON(),
    parser=JSONOnly(),
    title="beian bureau simulation API",
    version="1",
    description="Controls of the simulated bureau. Only in simulation mode.",
    urls_namespace="bureau-sim",
    docs_url="/docs",
)
bureau_api.install_handlers(sim)
PROBLEMS = bureau_api.PROBLEMS


def _enabled() -> None:
    if not settings.BEIAN_SIMULATION:
        raise BureauError("simulation_disabled")


def _clock_state() -> dict:
    now = clock.now()
    return {
        "now": now.isoformat(),
        "today": clock.local_date(now).isoformat(),
        "offset_seconds": int(simulation.offset().total_seconds()),
        "calendar_published": holidays.calendar().is_published(clock.local_date(now).year),
    }


@sim.post(
    "/decisions", response={200: DecisionOut, **PROBLEMS}, summary="Force a decision on an operation under review"
)
def force_decision(request, payload: DecisionIn):
    _enabled()
    op = Operation.objects.filter(pk=payload.operation).first()
    if op is None:
        raise BureauError("not_found")
    code, default_reason = ("", "") if payload.decision == "approve" else review.FORCED_REJECTION
    op = review.decide(
        op, payload.decision, actor=Actor.SIMULATION, reason=payload.reason or default_reason, reason_code=code
    )
    return {"operation": str(op.pk), "state": op.state, "result": op.result}


@sim.get("/clock", response={200: ClockOut, **PROBLEMS}, summary="The simulated time")
def read_clock(request):
    _enabled()
    return _clock_state()


@sim.post(
    "/clock/advance",
    response={200: AdvanceOut, **PROBLEMS},
    summary="Move simulated time forward and run what became due",
)
def advance_clock(request, payload: AdvanceIn):
    _enabled()
    today = clock.today()
    delta = timedelta(days=payload.days, hours=payload.hours, minutes=payload.minutes)
    if payload.working_days:
        delta += timedelta(days=(holidays.calendar().add(today, payload.working_days) - today).days)
    simulation.advance(delta)
    done = work.run_due()
    return {
        **_clock_state(),
        "done": {
            "expired": done.expired,
            "decided": done.decided,
            "shells_deregistered": done.shells_deregistered,
            "messages_sent": done.messages_sent,
        },
    }


class MessagesQuery(Schema):
    to: Text


@sim.get(
    "/messages", response={200: ReceivedListOut, **PROBLEMS}, summary="What a phone number or email address received"
)
def messages(request, params: Query[MessagesQuery]):
    _enabled()
    outbox.dispatch()  # the simulated gateway delivers what is queued before the phone is read
    try:
        received = send.received(params.to)
    except ValueError:
        received = []
    return {
        "to": params.to,
        "messages": [
            {
                "channel": m.channel,
                "sender": m.sender,
                "subject": m.subject,
                "body": m.body,
                "created_at": m.created_at.isoformat(),
            }
            for m in received
        ],
    }


@sim.get("/outage", response={200: OutageOut, **PROBLEMS}, summary="Whether the bureau is down")
def read_outage(request):
    _enabled()
    return {"on": simulation.outage()}


@sim.put("/outage", response={200: OutageOut, **PROBLEMS}, summary="Take the bureau down, or bring it back")
def set_outage(request, payload: OutageIn):
    _enabled()
    simulation.set_outage(payload.on)
    return {"on": payload.on}


@sim.get(
    "/faults",
    response={200: FaultsOut, **PROBLEMS},
    summary="The shares of requests that fail and that lose their answer",
)
def read_faults(request):
    _enabled()
    faults = simulation.faults()
    return {"fail_share": faults.fail_share, "drop_share": faults.drop_share}


@sim.put(
    "/faults",
    response={200: FaultsOut, **PROBLEMS},
    summary="Make a share of requests fail (503) and a share lose their answer (dropped connection)",
)
def set_faults(request, payload: FaultsIn):
    _enabled()
    simulation.set_faults(fail_share=payload.fail_share, drop_share=payload.drop_share)
    return {"fail_share": payload.fail_share, "drop_share": payload.drop_share}


@sim.post(
    "/work",
    response={200: WorkDoneOut, **PROBLEMS},
    summary="Run the bureau's due work now (expiries, planned decisions, shell sweeps, messages)",
)
def run_work(request):
    _enabled()
    done = work.run_due()
    return {
        "expired": done.expired,
        "decided": done.decided,
        "shells_deregistered": done.shells_deregistered,
        "messages_sent": done.messages_sent,
    }
