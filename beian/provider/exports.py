"""The customer's applications and filings as a spreadsheet (CSV, or .xlsx through XlsxWriter),
for the portal and the API alike: the same columns, the same filters as the lists.

Only what the customer may see, and of that only the public fields of a filing and the customer's
own working data: no identity numbers, phones or emails of principals (they stay in the
application, behind the sign-in), no filing password, nothing of the provider's review.

A large account is streamed: CSV row by row from a server-side cursor (`iterator`), never the
whole list in memory; .xlsx is written with XlsxWriter's constant-memory mode to a temporary file,
which is then sent (a zip file cannot be sent before it is finished).
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

import xlsxwriter
from django.db.models import Prefetch, QuerySet
from django.http import FileResponse, StreamingHttpResponse
from django.utils.translation import gettext_lazy as _

from beian.core import provinces
from beian.core import validators as v
from beian.core.clock import CHINA
from beian.core.errors import Invalid
from beian.provider import next_step, rules
from beian.provider.models import Application, FiledDomain, FiledWebsite
from beian.provider.rows import subject

S = Application.State
CHUNK = 500  # rows fetched at a time from the database's cursor
FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
# A cell that begins with one of these is a formula to a spreadsheet program: exported with a
# leading apostrophe, so that a name like "=HYPERLINK(…)" stays text (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    header: str  # the machine name, first row, the same as the API's field where there is one
    title: object  # the person's name, second row (gettext)
    value: Callable[[object], object]


def _when(moment: datetime | None) -> str:
    return moment.astimezone(CHINA).isoformat() if moment else ""


def _province(code: str) -> str:
    try:
        return provinces.by_code(code).name if code else ""
    except Invalid:
        return code


def _holder(row) -> str:
    return row.organisation.name if row.organisation_id else ""


def _data(app: Application, section: str, key: str) -> str:
    part = app.data.get(section) if isinstance(app.data, dict) else None
    value = part.get(key) if isinstance(part, dict) else None
    if isinstance(value, list):
        return " ".join(str(item) for item in value)
    return str(value) if value not in (None, "") else ""


def _next_step(app: Application) -> str:
    return next_step.message(next_step.of(app), app)[0]


APPLICATION_COLUMNS = (
    Column("id", _("申请编号"), lambda a: str(a.pk)),
    Column("organisation", _("所属组织"), _holder),
    Column("created_by", _("创建人"), lambda a: a.owner.get_username()),
    Column("type", _("申请类型代码"), lambda a: a.type),
    Column("type_name", _("申请类型"), lambda a: rules.operation_type(a.type).name),
    Column("state", _("状态代码"), lambda a: a.state),
    Column("state_name", _("状态"), lambda a: str(S(a.state).label)),
    Column("subject", _("备案对象"), lambda a: subject(a.type, a.data)),
    Column("entity_name", _("主体名称"), lambda a: _data(a, "entity", "name")),
    Column("website_name", _("网站名称"), lambda a: _data(a, "website", "name")),
    Column("domains", _("网站域名"), lambda a: _data(a, "website", "domains")),
    Column("province", _("省份"), lambda a: _province(a.province)),
    Column("entity_number", _("主体备案号"), lambda a: a.entity_number),
    Column("website_number", _("网站备案号"), lambda a: a.website_number),
    Column("created_at", _("创建时间"), lambda a: _when(a.created_at)),
    Column("submitted_at", _("提交时间"), lambda a: _when(a.submitted_at)),
    Column("verification_deadline", _("短信核验截止"), lambda a: _when(a.verification_deadline)),
    Column("decided_at", _("管局决定时间"), lambda a: _when(a.decided_at)),
    Column("next_step", _("下一步"), _next_step),
)

WEBSITE_COLUMNS = (
    Column("number", _("网站备案号"), lambda w: w.number),
    Column("name", _("网站名称"), lambda w: w.name),
    Column("domains", _("网站域名"), lambda w: " ".join(d.name for d in w.domains.all())),
    Column("home_url", _("首页地址"), lambda w: w.home_url),
    Column("entity_number", _("主体备案号"), lambda w: w.entity.number),
    Column("entity_name", _("主办单位名称"), lambda w: w.entity.name),
    Column(
        "unit_type",
        _("单位性质"),
        lambda w: v.UNIT_TYPES[w.entity.unit_type].name if w.entity.unit_type in v.UNIT_TYPES else w.entity.unit_type,
    ),
    Column("province", _("省份"), lambda w: _province(w.entity.province)),
    Column("organisation", _("所属组织"), lambda w: _holder(w.entity)),
    Column("status", _("备案状态"), lambda w: w.status),
    Column("access_state", _("本平台接入"), lambda w: w.access_state),
    Column("ips", _("服务器 IP"), lambda w: " ".join(w.ips)),
    Column("shell_deadline", _("空壳注销预计日期"), lambda w: w.shell_deadline.isoformat() if w.shell_deadline else ""),
)


def _account(row) -> str:
    return row.owner.get_username() if row.owner_id else ""


# The specialists' exports (/console/): everyone's rows, so each says which account holds it. The
# same public and working fields as the customer's; principals' data stays behind the sign-in.
CONSOLE_APPLICATION_COLUMNS = (
    APPLICATION_COLUMNS[0],
    Column("account", _("客户账号"), _account),
    *APPLICATION_COLUMNS[1:],
    Column("reviewer", _("初审专员"), lambda a: a.reviewer.get_username() if a.reviewer_id else ""),
)
CONSOLE_WEBSITE_COLUMNS = (
    *WEBSITE_COLUMNS,
    Column("account", _("归属账号"), lambda w: _account(w.entity)),
)


def _safe(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def rows(found: QuerySet, columns: tuple[Column, ...]) -> Iterator[list[str]]:
    """The header, the titles, then one row per record, read from the database in chunks."""
    yield [c.header for c in columns]
    yield [str(c.title) for c in columns]
    for record in found.iterator(chunk_size=CHUNK):
        yield [_safe(c.value(record)) for c in columns]


def websites_for_export(found: QuerySet[FiledWebsite]) -> QuerySet[FiledWebsite]:
    # prefetch_related with iterator() needs a chunk size: each chunk prefetches its domains.
    return found.prefetch_related(Prefetch("domains", queryset=FiledDomain.objects.order_by("name")))


class _Echo:
    """csv.writer writes to it; each row comes back as the text to stream."""

    def write(self, text: str) -> str:
        return text


def _csv_stream(lines: Iterable[list[str]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"  # a BOM, so that spreadsheet programs read the Chinese as UTF-8
    for line in lines:
        yield writer.writerow(line)


def response(lines: Iterable[list[str]], *, fmt: str, filename: str):
    """The export as a download: CSV streamed, .xlsx from a temporary file."""
    if fmt == "csv":
        answer = StreamingHttpResponse(_csv_stream(lines), content_type=FORMATS["csv"])
        answer["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    else:
        spool = tempfile.TemporaryFile()  # noqa: SIM115 - FileResponse closes it once it is sent
        book = xlsxwriter.Workbook(spool, {"constant_memory": True, "strings_to_formulas": False})
        sheet = book.add_worksheet()
        for r, line in enumerate(lines):
            for c, value in enumerate(line):
                sheet.write_string(r, c, value)
        book.close()
        spool.seek(0)
        answer = FileResponse(spool, as_attachment=True, filename=f"{filename}.xlsx", content_type=FORMATS["xlsx"])
    answer["Cache-Control"] = "private, no-store"
    return answer
