"""The console's words in its two languages (docs/console.md "Languages").

A page asks for `words(lang)`: a mapping from a key to the text in that language; both
languages have every key (tests/console/test_i18n.py). The language is the person's choice
(the `lang` cookie, set by the switch in the header) or else the browser's Accept-Language,
else the platform's `language` setting. Error codes and record values stay as they are.
"""

from __future__ import annotations

from collections.abc import Mapping

from yizhan.api.errors import language_of

LANGS = ("zh", "en")
COOKIE = "yizhan_lang"

_WORDS: dict[str, tuple[str, str]] = {
    # key: (en, zh)
    "console": ("Yizhan console", "驿站控制台"),
    "login": ("Log in", "登录"),
    "logout": ("Log out", "退出"),
    "login_name": ("Login", "登录名"),
    "password": ("Password", "密码"),
    "login_wrong": ("Wrong login or password.", "登录名或密码错误。"),
    "login_limited": ("Too many failed logins: try again in {minutes} minutes.",
                      "登录失败次数过多，请 {minutes} 分钟后再试。"),
    "csrf_failed": ("This form has expired: reload the page and send it again.",
                    "表单已过期，请刷新页面后重新提交。"),
    "language": ("Language", "语言"),
    "overview": ("Overview", "概览"),
    "records": ("Send records", "发送记录"),
    "accounts": ("Accounts", "账户"),
    "account": ("Account", "账户"),
    "role": ("Role", "角色"),
    "role_operator": ("operator", "运营"),
    "role_tenant-admin": ("tenant admin", "租户管理员"),
    "role_tenant-viewer": ("tenant viewer", "租户只读"),
    "today_sent": ("Sent today", "今日发送"),
    "today_success": ("Delivered today", "今日成功"),
    "success_rate": ("Success rate", "成功率"),
    "balance": ("Balance", "余额"),
    "yuan": ("yuan", "元"),
    "packages": ("Packages", "套餐包"),
    "no_packages": ("No package.", "暂无套餐包。"),
    "parts_left": ("{left} of {parts} parts left, until {until}",
                   "剩余 {left} / {parts} 条，有效期至 {until}"),
    "by_day": ("Sends and deliveries by day (last 7 days)", "近 7 天每日发送与成功"),
    "by_carrier": ("Sends and deliveries by carrier (last 7 days)", "近 7 天各运营商发送与成功"),
    "sent": ("sent", "发送"),
    "success": ("delivered", "成功"),
    "failed": ("failed", "失败"),
    "no_data": ("Nothing sent in this period.", "该时段内没有发送。"),
    "filters": ("Filters", "筛选"),
    "phone_number": ("Number", "号码"),
    "biz_id": ("BizId", "BizId"),
    "day": ("Day", "日期"),
    "from_day": ("From", "开始日期"),
    "to_day": ("To", "结束日期"),
    "status": ("Status", "状态"),
    "any": ("any", "全部"),
    "signature": ("Signature", "签名"),
    "template": ("Template", "模板"),
    "task": ("Send task", "群发任务"),
    "search": ("Search", "查询"),
    "content": ("Content", "内容"),
    "created_at": ("Sent at", "发送时间"),
    "error_code": ("Code", "错误码"),
    "total": ("{total} records", "共 {total} 条"),
    "previous": ("Previous", "上一页"),
    "next": ("Next", "下一页"),
    "no_records": ("No record matches.", "没有符合条件的记录。"),
    "masked_note": ("Digits and letters of numbers and contents are masked.",
                    "号码与内容中的数字和字母已脱敏。"),
    "unmask": ("Show unmasked (recorded in the audit)", "查看完整内容（将记入审计）"),
    "unmasked_note": ("Shown unmasked; this viewing was recorded in the audit.",
                      "已显示完整内容；本次查看已记入审计。"),
    "message": ("Message", "短信"),
    "diagnosis": ("Diagnosis", "诊断"),
    "cause": ("Cause", "原因"),
    "side": ("Whose side", "责任方"),
    "what": ("What happened", "发生了什么"),
    "todo": ("What to do", "如何处理"),
    "trail": ("Policy checks", "策略检查"),
    "rule": ("Check", "检查项"),
    "verdict": ("Verdict", "结果"),
    "registrations": ("Carrier registration", "运营商报备"),
    "carrier": ("Carrier", "运营商"),
    "channel": ("Channel", "通道"),
    "segments": ("Parts", "计费条数"),
    "submitted_at": ("Submitted at", "提交时间"),
    "receipt_at": ("Receipt at", "回执时间"),
    "back_to_records": ("Back to the records", "返回发送记录"),
    "not_found": ("Not found.", "未找到。"),
    "bad_filter": ("A filter is not valid: {detail}", "筛选条件无效：{detail}"),
    "operator_home": ("Operator: accounts", "运营：账户"),
    "operator_next": ("The operator's pages (review queues, channels, dead letters) come "
                      "next; the CLI does all of it meanwhile.",
                      "运营页面（审核队列、通道、死信）即将推出；在此之前请使用命令行。"),
    "status_success": ("delivered", "成功"),
    "status_failed": ("failed", "失败"),
    "status_waiting": ("waiting", "等待回执"),
    "status_unknown": ("unknown", "未知"),
    "carrier_china_mobile": ("China Mobile", "中国移动"),
    "carrier_china_unicom": ("China Unicom", "中国联通"),
    "carrier_china_telecom": ("China Telecom", "中国电信"),
    "carrier_international": ("International", "国际"),
    "statistics": ("Statistics", "统计"),
    "group_by": ("Group by", "分组"),
    "dim_day": ("Day", "日期"),
    "dim_sign_name": ("Signature", "签名"),
    "dim_template_code": ("Template", "模板"),
    "dim_template_type": ("Template type", "模板类型"),
    "dim_carrier": ("Carrier", "运营商"),
    "billed_parts": ("Billed parts", "计费条数"),
    "download_csv": ("Download as CSV", "导出 CSV"),
    "signatures": ("Signatures", "签名"),
    "created": ("Created", "创建时间"),
    "no_signatures": ("No signature yet.", "暂无签名。"),
    "test_signature": ("test", "测试"),
    "review_state": ("Review", "审核状态"),
    "review_approved": ("approved", "审核通过"),
    "review_pending": ("under review", "审核中"),
    "review_rejected": ("rejected", "未通过"),
    "scenario": ("Scenario", "适用场景"),
    "sending": ("Sending", "能否发送"),
    "blocked": ("blocked", "受阻"),
    "can_send": ("can send", "可发送"),
    "isp_mobile": ("China Mobile", "中国移动"),
    "isp_unicom": ("China Unicom", "中国联通"),
    "isp_telecom": ("China Telecom", "中国电信"),
    "calls": ("API calls", "API 调用记录"),
    "action": ("Action", "操作"),
    "total_calls": ("{total} calls", "共 {total} 次调用"),
    "no_calls": ("No call matches.", "没有符合条件的调用。"),
    "access_keys": ("AccessKeys", "AccessKey"),
    "create_key": ("Create an AccessKey", "创建 AccessKey"),
    "key_created": ("AccessKey created.", "AccessKey 已创建。"),
    "secret_once": ("Keep the secret now: it is shown only this once.",
                    "请立即保存 Secret：它只显示这一次。"),
    "key_enabled": ("enabled", "启用"),
    "key_disabled": ("disabled", "已禁用"),
    "disable": ("Disable", "禁用"),
    "templates": ("Templates", "模板"),
    "no_templates": ("No template yet.", "暂无模板。"),
    "template_type": ("Type", "类型"),
    "type_verification": ("verification code", "验证码"),
    "type_notification": ("notification", "短信通知"),
    "type_promotion": ("promotion", "推广短信"),
    "type_international": ("international", "国际/港澳台"),
    "check_text": ("Check a template text before you submit it",
                   "提交前检查模板内容"),
    "check": ("Check", "检查"),
    "hints_empty": ("Type a text to see what review would say.", "输入内容即可查看审核提示。"),
    "hints_none": ("Nothing that review would object to.", "未发现审核会指出的问题。"),
    "hint_refuses": ("Refused:", "将被驳回："),
    "hint_warns": ("Check:", "请注意："),
    "skip": ("Skip to the content", "跳到正文"),
    "forbidden": ("This page is not for your role.", "您的角色无权访问此页面。"),
}


_BY_LANG: dict[str, Mapping[str, str]] = {}


def add(group: Mapping[str, tuple[str, str]]) -> None:
    """A page group's own words, (en, zh) per key, added when its module is imported; a key
    may be defined once across the console."""
    twice = _WORDS.keys() & group.keys()
    if twice:
        raise ValueError(f"console words defined twice: {sorted(twice)}")
    _WORDS.update(group)
    _BY_LANG.clear()


def words(lang: str) -> Mapping[str, str]:
    found = _BY_LANG.get(lang)
    if found is None:
        index = 1 if lang == "zh" else 0
        found = _BY_LANG[lang] = {key: pair[index] for key, pair in _WORDS.items()}
    return found


def choose(cookie: str | None, accept_language: str, default: str) -> str:
    """The language of a request: the switch's cookie, else Accept-Language, else the
    platform's default."""
    if cookie in LANGS:
        return cookie
    return language_of(accept_language, default).value
