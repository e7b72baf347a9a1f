"""The import of a provider's customer list (S20): a CSV of (account, entity number) rows that hands
the filings the mirror holds for nobody to the provider's existing customer accounts. The console's
upload and `python -m beian import_customers` share this importer.

Every row gets an outcome and a reason in Chinese and English. A dry run decides every row exactly
as the real run would and applies nothing. A real run applies the rows it can in one transaction,
each through `holders.assign` (so in the filing's history, as `import`), and never moves a filing
someone holds: that is a specialist's decision, made in the console. Run again, the same file
changes nothing and says so row by row (`unchanged`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F

from beian.accounts import emails
from beian.core import numbers
from beian.core.errors import Invalid
from beian.provider import holders
from beian.provider.holders import Holder
from beian.provider.models import FiledEntity, HolderChange
from beian.sealing import digest

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 50_000
# Header names a column may have (lower case), so that an exported spreadsheet works as it is.
ACCOUNT_HEADERS = frozenset({"account", "username", "user", "email", "账号", "用户名", "客户账号", "邮箱"})
NUMBER_HEADERS = frozenset({"entity_number", "entity", "number", "主体备案号", "备案号"})
# Spreadsheet programs in China save CSV as GB18030 (GBK); others as UTF-8, often with a BOM.
ENCODINGS = ("utf-8-sig", "gb18030")


class Outcome(StrEnum):
    ASSIGNED = "assigned"  # the filing is (or, on a dry run, would be) the account's
    UNCHANGED = "unchanged"  # it is the account's already
    REFUSED = "refused"  # not applied: the reason says why


@dataclass(frozen=True)
class Row:
    row: int  # the line of the file, counting the header, as a spreadsheet numbers it
    account: str
    entity_number: str
    outcome: Outcome
    reason: str
    reason_en: str


@dataclass
class Report:
    dry_run: bool
    rows: list[Row] = field(default_factory=list)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.rows if r.outcome is outcome)

    @property
    def counts(self) -> dict[str, int]:
        return {o.value: self.count(o) for o in Outcome}


class Unreadable(ValueError):
    """The file as a whole cannot be read: nothing of it is applied."""

    def __init__(self, message: str, message_en: str):
        super().__init__(message_en)
        self.message = message
        self.message_en = message_en


def decode(raw: bytes) -> str:
    if len(raw) > MAX_BYTES:
        raise Unreadable(
            f"文件不能超过 {MAX_BYTES // 1024 // 1024} MB", f"The file exceeds {MAX_BYTES // 1024 // 1024} MB"
        )
    for encoding in ENCODINGS:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise Unreadable("无法识别文件编码：请保存为 UTF-8 或 GBK 编码的 CSV", "Save the file as CSV in UTF-8 or GBK")


def _lines(text: str) -> list[tuple[int, list[str]]]:
    if "\x00" in text:
        raise Unreadable("文件不是 CSV 文本", "The file is not CSV text")
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise Unreadable(f"CSV 格式有误：{exc}", f"Not valid CSV: {exc}") from None
    numbered = [(i, [cell.strip() for cell in row]) for i, row in enumerate(rows, start=1)]
    numbered = [(i, cells) for i, cells in numbered if any(cells)]
    if not numbered:
        raise Unreadable("文件中没有数据行", "The file has no rows")
    first = [c.lower() for c in numbered[0][1]]
    if any(c in ACCOUNT_HEADERS | NUMBER_HEADERS for c in first):
        try:
            account_at = next(i for i, c in enumerate(first) if c in ACCOUNT_HEADERS)
            number_at = next(i for i, c in enumerate(first) if c in NUMBER_HEADERS)
        except StopIteration:
            raise Unreadable(
                "表头须含「账号」（account）和「主体备案号」（entity_number）两列",
                "The header must name an account column and an entity_number column",
            ) from None
        numbered = numbered[1:]
    else:
        account_at, number_at = 0, 1
    if len(numbered) > MAX_ROWS:
        raise Unreadable(f"一次最多导入 {MAX_ROWS} 行", f"At most {MAX_ROWS} rows at a time")

    def cell(cells: list[str], at: int) -> str:
        return cells[at] if at < len(cells) else ""

    return [(i, [cell(cells, account_at), cell(cells, number_at)]) for i, cells in numbered]


def _accounts(names: Iterable[str]) -> dict[str, AbstractBaseUser]:
    """Each name → the active account it signs in as, or whose e-mail address it is (if only one)."""
    users = get_user_model().objects.filter(is_active=True)
    names = {n for n in names if n}
    found = {u.get_username(): u for u in users.filter(username__in=names)}
    # An address is sealed: it is found by its keyed digest, which ignores case.
    wanted = {n: digest(emails.KIND, n) for n in names if "@" in n and n not in found}
    if wanted:
        holders_of: dict[str, list] = {}
        candidates = users.filter(sealed_email__email_digest__in=set(wanted.values()))
        for u in candidates.annotate(matched=F("sealed_email__email_digest")):
            holders_of.setdefault(u.matched, []).append(u)
        for name, key in wanted.items():
            if len(holders_of.get(key, [])) == 1:
                found[name] = holders_of[key][0]
    return found


def _holder_name(entity: FiledEntity) -> str:
    if entity.organisation_id:
        return entity.organisation.name
    return entity.owner.get_username() if entity.owner_id else ""


def run(raw: bytes, *, dry_run: bool, actor: str, source: str = "") -> Report:
    """Decide every row of the file and, unless `dry_run`, apply the rows that assign."""
    lines = _lines(decode(raw))
    accounts = _accounts(a for _i, (a, _n) in lines)
    parsed: dict[int, str] = {}
    for i, (_account, text) in lines:
        try:
            parsed[i] = numbers.parse(text).entity_number
        except Invalid:
            continue
    entities = {
        e.number: e
        for e in FiledEntity.objects.filter(number__in=set(parsed.values())).select_related("owner", "organisation")
    }
    report = Report(dry_run=dry_run)
    planned: dict[str, str] = {}  # entity number → the account an earlier row gave it
    todo: list[tuple[Row, FiledEntity, AbstractBaseUser]] = []

    def add(i, account, number, outcome, zh, en):
        report.rows.append(Row(i, account, number, outcome, zh, en))
        return report.rows[-1]

    for i, (account, text) in lines:
        user = accounts.get(account)
        number = parsed.get(i, text)
        if not account:
            add(i, account, text, Outcome.REFUSED, "缺少账号", "The account is missing")
        elif user is None:
            add(i, account, text, Outcome.REFUSED, f"没有账号「{account}」", f"No account {account!r}")
        elif i not in parsed:
            try:
                numbers.parse(text)
            except Invalid as exc:
                add(i, account, text, Outcome.REFUSED, exc.message, exc.message_en)
        elif number not in entities:
            add(
                i,
                account,
                number,
                Outcome.REFUSED,
                "本平台的备案镜像中没有该主体：只有在本平台接入的备案可以导入",
                "No filing of this entity is accessed with this platform",
            )
        elif entities[number].status != "active":
            add(i, account, number, Outcome.REFUSED, "该主体备案已注销", "The entity's filing is deregistered")
        elif number in planned:
            if planned[number] == user.get_username():
                add(i, account, number, Outcome.UNCHANGED, "与前面的行重复", "Repeats an earlier row")
            else:
                add(
                    i,
                    account,
                    number,
                    Outcome.REFUSED,
                    f"前面的行已将该主体指定给「{planned[number]}」",
                    f"An earlier row gives this entity to {planned[number]!r}",
                )
        else:
            entity = entities[number]
            planned[number] = user.get_username()
            if holders.held(entity):
                if Holder.of(entity) == Holder.personal(user):
                    add(i, account, number, Outcome.UNCHANGED, "已属于该账号", "Already this account's")
                else:
                    held_by = _holder_name(entity)
                    add(
                        i,
                        account,
                        number,
                        Outcome.REFUSED,
                        f"已属于「{held_by}」；导入不转移已有归属的备案，如需转移请在审核控制台指定",
                        f"Held by {held_by!r}: an import never moves a held filing; a specialist may, in the console",
                    )
            else:
                row = add(i, account, number, Outcome.ASSIGNED, "归入该账号", "Goes to this account")
                todo.append((row, entity, user))
    if not dry_run and todo:
        _apply(report, todo, actor=actor, source=source)
    return report


def _apply(report: Report, todo: list, *, actor: str, source: str) -> None:
    with transaction.atomic():
        for row, entity, user in todo:
            taken = holders.assign(
                entity,
                Holder.personal(user),
                actor=actor,
                how=HolderChange.How.IMPORT,
                reason=f"{source} 第 {row.row} 行" if source else f"第 {row.row} 行",
                unheld_only=True,
            )
            if not taken:  # someone claimed it between reading and applying
                at = report.rows.index(row)
                report.rows[at] = Row(
                    row.row,
                    row.account,
                    row.entity_number,
                    Outcome.REFUSED,
                    "该备案刚刚已归属其他账号",
                    "The filing has just gone to another account",
                )
