"""GET /v1/templates/lint: the template review linter's findings for a text, saving nothing
(docs/compliance.md "Template review")."""

from __future__ import annotations

from tests.conftest import Running


async def test_lint_answers_every_finding_and_saves_nothing(running: Running) -> None:
    before = await running.yz.store.list_templates()
    answer = await running.client.get("/v1/templates/lint", params={
        "type": "promotion", "content": "限时\u200b秒杀${d}折"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["code"] == "OK" and body["refused"] is True
    assert [(f["rule"], f["severity"], f["start"], f["code"]) for f in body["findings"]] == [
        ("template.invisible_character", "warn", 2, None),
        ("template.opt_out_missing", "refuse", 10, "isv.PROMOTION_OPT_OUT_MISSING"),
    ]
    assert "拒收请回复R" in body["findings"][1]["message_zh"]
    assert await running.yz.store.list_templates() == before


async def test_lint_of_a_clean_text_and_a_bad_type(running: Running) -> None:
    clean = await running.client.get("/v1/templates/lint", params={
        "type": "notification", "content": "订单${order}已发货"})
    assert clean.json()["findings"] == [] and clean.json()["refused"] is False
    bad = await running.client.get("/v1/templates/lint", params={
        "type": "sale", "content": "x"})
    assert bad.status_code == 400
