"""Receiving an operation from a provider (DESIGN §3–§6).

`submit` is the order of things, the same for every type: the idempotency key first (the same key
returns the same operation; nothing is created twice), then what the type's catalogue row asks
(`beian.bureau.operations.prepare`: fields, the filing it names, who may submit it, clashes), the
filing password where the rule set wants it, the entity and domain locks (主办者冲突 / 域名冲突), the
record, what the type does to serving at submission, and SMS verification or review.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from beian.bureau import audit, operations, passwords, review, verification
from beian.bureau.errors import BureauError, field_error
from beian.bureau.models import Operation, OperationLock, Provider
from beian.bureau.rules import current as current_rules
from beian.bureau.transitions import Actor
from beian.core import clock


@dataclass(frozen=True)
class Submitted:
    operation: Operation
    created: bool  # False when the idempotency key returned an earlier operation


def digest(op_type: str, data: dict) -> str:
    without_password = {k: val for k, val in data.items() if k != passwords.FIELD}
    canonical = json.dumps({"type": op_type, "data": without_password}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _existing(provider: Provider, key, payload_digest: str) -> Operation | None:
    op = Operation.objects.filter(provider=provider, idempotency_key=key).first()
    if op is not None and op.payload_digest != payload_digest:
        raise BureauError("idempotency_key_reused")
    return op


def submit(*, provider: Provider, op_type: str, data: dict, idempotency_key) -> Submitted:
    kind = current_rules().operations.get(op_type)
    if kind is None:
        raise field_error(
            "validation_failed", "type", "operation_type_unknown", "未知的操作类型", "Unknown operation type"
        )
    # Whose password it is, not part of the operation: counted by, never stored with it.
    data = dict(data)
    customer = data.pop(passwords.CUSTOMER_FIELD, None) or ""
    payload_digest = digest(op_type, data)
    earlier = _existing(provider, idempotency_key, payload_digest)
    if earlier is not None:
        return Submitted(earlier, created=False)

    password = data.get(passwords.FIELD)
    if password is not None and not kind.password:
        raise field_error(
            "validation_failed",
            passwords.FIELD,
            "filing_password_not_used",
            "此操作（或当前规则集）不使用备案密码",
            "This operation (or rule set) takes no filing password",
        )
    prepared = operations.prepare(provider, kind, data)
    if kind.password:
        assert prepared.entity is not None
        passwords.check(prepared.entity, password, client=f"provider:{provider.slug}", customer=customer)

    try:
        with transaction.atomic(using="bureau"):
            op = Operation.objects.create(
                provider=provider,
                type=op_type,
                idempotency_key=idempotency_key,
                payload_digest=payload_digest,
                data=prepared.data,
                province=prepared.province,
                entity=prepared.entity,
                website=prepared.website,
                submitted_at=clock.now(),
            )
            _lock(op, prepared.locks)
            audit.append(
                actor=f"provider:{provider.slug}",
                action="submit",
                subject=f"operation:{op.pk}",
                to_state=op.state,
                data={"type": op_type},
            )
            operations.at_submission(op, kind)
            if kind.verify:
                verification.request(op, kind.verify)
            else:
                review.start(op, actor=Actor.SYSTEM)
    except IntegrityError:
        # The same key raced us and won: hand back the winner's operation.
        earlier = _existing(provider, idempotency_key, payload_digest)
        if earlier is None:
            raise
        return Submitted(earlier, created=False)
    op.refresh_from_db()
    return Submitted(op, created=True)


def _lock(op: Operation, keys: list[str]) -> None:
    for key in keys:
        try:
            with transaction.atomic(using="bureau"):
                OperationLock.objects.create(key=key, operation=op)
        except IntegrityError:
            holder = OperationLock.objects.filter(key=key).select_related("operation").first()
            code = "entity_busy" if key.startswith("entity:") else "domain_busy"
            field = "entity" if code == "entity_busy" else "domains"
            what = key.split(":", 1)[1]
            raise field_error(
                code,
                field,
                code,
                f"{'主体' if code == 'entity_busy' else '域名 ' + what}有正在办理的备案操作，请待其完成后再提交",
                f"{'The entity' if code == 'entity_busy' else what} has an open operation"
                + (f" ({holder.operation.type})" if holder else ""),
            ) from None
