"""/api/v1/tokens: an account lists, makes and revokes its own personal API tokens (the service is
`beian.provider.tokens`). The whole token is in the answer to its creation and nowhere else ever
after. Mounted by `beian.provider.api`, which decides who may call it: the browser's session or an
existing token, not HTTP Basic (a password that leaks should not be enough to mint lasting
credentials without the portal)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from django.http import HttpResponse
from ninja import Field, Path, Router, Schema, Status

from beian.httpapi import Strict, text
from beian.provider import tokens
from beian.provider.models import ApiToken
from beian.provider.schemas import ProblemOut

PROBLEMS = {status: ProblemOut for status in (400, 401, 403, 404, 409, 413, 422, 429)}

router = Router(tags=["tokens"])

# Bounded so that an id past the database's integer is a 404 (a malformed path), not an overflow there.
TokenId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class TokenCreate(Strict):
    name: text(tokens.NAME_MAX) = Field(description="What the token is for, e.g. the script or server that uses it")
    expires_in_days: int | None = Field(
        None, ge=1, le=tokens.DAYS_MAX, description="Days until it stops working; none: until revoked"
    )


class TokenOut(Schema):
    id: int
    name: str
    shown_as: str = Field(description="The token's public part, to tell tokens apart; never the secret")
    status: str = Field(description="active, expired or revoked")
    status_name: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None = Field(description="Updated at most once a minute")
    revoked_at: datetime | None


class TokenCreatedOut(TokenOut):
    token: str = Field(description="The whole token, shown this once: send it as `Authorization: Bearer <token>`")


class TokenListOut(Schema):
    items: list[TokenOut]


def token_out(token: ApiToken) -> dict:
    state = tokens.status(token)
    return {
        "id": token.pk,
        "name": token.name,
        "shown_as": tokens.display(token),
        "status": state,
        "status_name": tokens.STATUS_LABELS[state],
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "last_used_at": token.last_used_at,
        "revoked_at": token.revoked_at,
    }


@router.get("", response={200: TokenListOut, **PROBLEMS}, summary="My API tokens")
def list_tokens(request):
    """Every token of the signed-in account, newest first, revoked and expired ones included;
    never a secret."""
    return {"items": [token_out(t) for t in tokens.of(request.auth)]}


@router.post("", response={201: TokenCreatedOut, **PROBLEMS}, summary="Make an API token")
def create_token(request, response: HttpResponse, payload: TokenCreate):
    """The answer holds the whole token (`token`), this once: store it where the script reads it.
    The platform keeps only a digest and cannot show it again."""
    issued = tokens.create(user=request.auth, name=payload.name, expires_in_days=payload.expires_in_days)
    response["Cache-Control"] = "no-store"  # as an OAuth token response (RFC 6749 §5.1): no cache keeps it
    return Status(201, {**token_out(issued.token), "token": issued.secret})


@router.post("/{token_id}/revoke", response={200: TokenOut, **PROBLEMS}, summary="Revoke an API token")
def revoke_token(request, token_id: TokenId):
    """The token stops working at once (401 `token_revoked`). Revoking it again changes nothing."""
    return token_out(tokens.revoke(tokens.own(request.auth, token_id)))
