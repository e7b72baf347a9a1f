"""S20, the import of a provider's customer list (account, entity number): the console's upload and
`import_customers` share one importer; a dry run reports every row and applies nothing; a real run
gives the unheld filings to their accounts, in the filing's history; a second run changes nothing."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from beian.provider.models import FiledEntity, HolderChange
from tests.provider.test_portal_pages import mirror, signed_in, text

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])

E1, E2, E3 = "粤ICP备2026000101号", "粤ICP备2026000102号", "浙ICP备2026000103号"
LIST = (
    "账号,主体备案号\n"
    f"alice,{E1}\n"  # 2: unheld → alice
    f"charlie,{E2}\n"  # 3: alice holds it → refused, never moved
    f"nobody,{E3}\n"  # 4: no such account
    "alice,粤ICP备12\n"  # 5: not a number
    "alice,京ICP备2026999999号\n"  # 6: not in the mirror
    f"charlie,{E1}\n"  # 7: an earlier row gave E1 to alice
    f"charlie@example.cn,{E3}-1\n"  # 8: an e-mail address, a website's number → charlie
    f"alice,{E1}\n"  # 9: repeats row 2
)
EXPECTED = {
    2: "assigned",
    3: "refused",
    4: "refused",
    5: "refused",
    6: "refused",
    7: "refused",
    8: "assigned",
    9: "unchanged",
}


@pytest.fixture
def filings(people):
    return {
        E1: mirror(None, number=E1, sites=1),
        E2: mirror(people["alice"], number=E2, sites=1),
        E3: mirror(None, number=E3, sites=1),
    }


def upload(client, content: bytes, *, dry_run: bool):
    data = {"file": SimpleUploadedFile("customers.csv", content, content_type="text/csv")}
    if dry_run:
        data["dry_run"] = "on"
    return client.post("/console/import/", data)


def outcomes(page: str) -> dict[int, str]:
    body = page.split('id="import-rows"')[1]
    rows = body.split("<tr data-outcome=")[1:]
    return {int(r.split("<td>")[1].split("</td>")[0]): r.split('"')[1] for r in rows}


def holders() -> dict[str, str | None]:
    return {e.number: e.owner.username if e.owner_id else None for e in FiledEntity.objects.select_related("owner")}


def test_s20_a_dry_run_reports_every_row_and_applies_nothing(filings, people):
    bob = signed_in(people["bob"])
    before = holders()
    r = upload(bob, LIST.encode(), dry_run=True)
    assert r.status_code == 200
    page = text(r)
    assert outcomes(page) == EXPECTED
    assert 'data-dry-run="true"' in page
    assert "已属于「alice」" in page
    assert "没有账号「nobody」" in page
    assert "备案号格式应为" in page
    assert "前面的行已将该主体指定给「alice」" in page
    assert holders() == before
    assert not HolderChange.objects.exists()


def test_s20_the_import_applies_and_a_second_run_changes_nothing(filings, people):
    bob = signed_in(people["bob"])
    r = upload(bob, LIST.encode(), dry_run=False)
    assert r.status_code == 200
    assert outcomes(text(r)) == EXPECTED
    assert holders() == {E1: "alice", E2: "alice", E3: "charlie"}
    changes = list(HolderChange.objects.order_by("id").values_list("entity__number", "how", "actor", "reason"))
    assert changes == [
        (E1, "import", "specialist:bob", "customers.csv 第 2 行"),
        (E3, "import", "specialist:bob", "customers.csv 第 8 行"),
    ]
    again = outcomes(text(upload(bob, LIST.encode(), dry_run=False)))
    assert again[2] == again[8] == again[9] == "unchanged"
    assert HolderChange.objects.count() == 2


def test_s20_the_command_shares_the_importer(filings, people, tmp_path):
    listed = tmp_path / "customers.csv"
    listed.write_bytes(LIST.encode("gb18030"))  # as a spreadsheet program in China saves it
    out, err = io.StringIO(), io.StringIO()
    call_command("import_customers", str(listed), "--dry-run", stdout=out, stderr=err)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert {int(r["row"]): r["outcome"] for r in rows} == EXPECTED
    assert next(r for r in rows if r["row"] == "4")["reason_en"] == "No account 'nobody'"
    assert "nothing applied" in err.getvalue()
    assert not HolderChange.objects.exists()
    call_command("import_customers", str(listed), stdout=io.StringIO(), stderr=io.StringIO())
    assert holders() == {E1: "alice", E2: "alice", E3: "charlie"}
    assert set(HolderChange.objects.values_list("actor", flat=True)) == {"system:import_customers"}
    out = io.StringIO()
    call_command("import_customers", str(listed), stdout=out, stderr=io.StringIO())
    assert "assigned" not in {r["outcome"] for r in csv.DictReader(io.StringIO(out.getvalue()))}
    assert HolderChange.objects.count() == 2


def test_s20_an_email_finds_its_account_by_its_digest_whatever_its_case_and_only_if_one_has_it(filings, people):
    from django.contrib.auth.models import User

    for name in ("dan", "erin"):  # two accounts that share an address
        User.objects.create_user(name, "shared@example.cn")
    listed = f"账号,主体备案号\nCHARLIE@Example.CN,{E1}\nshared@example.cn,{E3}\nnobody@example.cn,{E3}\n"
    assert outcomes(text(upload(signed_in(people["bob"]), listed.encode(), dry_run=False))) == {
        2: "assigned",
        3: "refused",
        4: "refused",
    }
    assert holders()[E1] == "charlie"
    assert holders()[E3] is None


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"\x00\x01\x02\xff\xfe", "CSV"),
        ("账号,备注\nalice,x\n".encode(), "表头须含"),
        (b"", "文件是空的"),
        (b"\n\n", "没有数据行"),
    ],
)
def test_a_file_that_cannot_be_read_is_a_field_error_and_changes_nothing(filings, people, content, says):
    r = upload(signed_in(people["bob"]), content, dry_run=False)
    assert r.status_code == 422
    assert says in text(r).split('id="wrap-file"')[1].split("</div>")[0]
    assert not HolderChange.objects.exists()


def test_only_specialists_import(filings, people):
    r = upload(signed_in(people["alice"]), LIST.encode(), dry_run=False)
    assert r.status_code == 403
    assert not HolderChange.objects.exists()
