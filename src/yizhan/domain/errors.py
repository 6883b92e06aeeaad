"""The error-code registry: every refusal the platform can give, one code each.

Each code has one message (English and Simplified Chinese; codes are never translated) and
one HTTP status for the native REST API. The Alibaba-compatible API uses the same codes;
business outcomes (`isv.*`, `isp.*`) answer HTTP 200 there, as Alibaba does, protocol
problems keep their status (docs/aliyun.md "Answers"). A `Refusal` is the value a check returns: the
code plus the detail of what exactly was wrong. Documented for users in docs/errors.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Lang(StrEnum):
    EN = "en"
    ZH = "zh"


@dataclass(frozen=True, slots=True)
class ErrorCode:
    code: str
    http_status: int
    en: str
    zh: str

    @property
    def business(self) -> bool:
        """Business outcomes are HTTP 200 with a `Code` on the Alibaba-compatible API."""
        return self.code.startswith(("isv.", "isp."))

    def text(self, lang: Lang = Lang.EN) -> str:
        return self.zh if lang is Lang.ZH else self.en


_CODES: tuple[ErrorCode, ...] = (
    # Request and protocol problems.
    ErrorCode("MissingParameter", 400,
              'The input parameter "{detail}" that is mandatory for processing this request '
              "is not supplied.",
              "缺少必填参数 “{detail}”。"),
    ErrorCode("InvalidParameter", 400,
              "A parameter is not valid; see the detail and the API reference.",
              "参数不合法，请查看详情与 API 文档。"),
    ErrorCode("Unauthorized", 401,
              "Authenticate with an enabled AccessKey: HTTP Basic with the AccessKey id as "
              "user and the secret as password.",
              "请使用已启用的 AccessKey 认证：HTTP Basic，用户名为 AccessKey ID，密码为 Secret。"),
    ErrorCode("InvalidAccessKeyId.NotFound", 404,
              "Specified access key is not found.",
              "指定的 AccessKey 不存在。"),
    ErrorCode("InvalidAccessKeyId.Inactive", 400,
              "Specified access key is disabled.",
              "指定的 AccessKey 已被禁用。"),
    ErrorCode("InvalidApi.NotFound", 404,
              "Specified api is not found, please check your url and method.",
              "指定的 API 不存在，请检查 URL 与请求方法。"),
    ErrorCode("IncompleteSignature", 400,
              "The request is not signed completely: a required signature parameter or "
              "signed header is missing.",
              "请求签名不完整：缺少必需的签名参数或被签名的请求头。"),
    ErrorCode("InvalidSignatureMethod", 400,
              "Specified signature method is not valid.",
              "指定的签名方法无效。"),
    ErrorCode("SignatureDoesNotMatch", 400,
              "Specified signature is not matched with our calculation.",
              "签名与服务端计算结果不一致。"),
    ErrorCode("InvalidTimeStamp.Format", 400,
              "Specified time stamp or date value is not well formatted.",
              "时间戳格式错误，应为 YYYY-MM-DDThh:mm:ssZ（UTC）。"),
    ErrorCode("InvalidTimeStamp.Expired", 400,
              "Specified time stamp or date value is expired.",
              "时间戳与服务器时间相差超过 15 分钟，请校准时钟。"),
    ErrorCode("SignatureNonceUsed", 400,
              "Specified signature nonce was used already.",
              "签名随机数已被使用（请求重放）。"),
    ErrorCode("InvalidVersion", 400,
              "Specified api version is not valid: use 2017-05-25.",
              "API 版本无效，请使用 2017-05-25。"),
    ErrorCode("Throttling.User", 400,
              "Request was denied due to user flow control.",
              "请求触发用户级流控，请稍后重试。"),
    ErrorCode("Throttling", 400,
              "Request was denied due to request throttling.",
              "待发送的消息积压过多，多号码请求暂被拒绝（单号码发送不受影响），"
              "请在 x-acs-retry-after / Retry-After 给出的秒数后重试。"),
    ErrorCode("MessageNotFound", 404,
              "No message of this account has this id.",
              "该账号下找不到此消息。"),
    ErrorCode("BizIdNotFound", 404,
              "No send request of this account has this BizId.",
              "该账号下找不到此 BizId 的发送记录。"),
    ErrorCode("SignatureNotFound", 404,
              "No signature of this account has this name.",
              "该账号下找不到此签名。"),
    ErrorCode("TestNumberNotFound", 404,
              "The number is not a bound test number of this account.",
              "该号码不是本账号已绑定的测试号码。"),
    ErrorCode("TestNumberLimit", 400,
              "The account has bound as many test numbers as it may (10); unbind one first.",
              "本账号绑定的测试号码已达上限（10 个），请先解绑一个。"),
    # Receipts and replies reach tenants (issue 7; docs/push.md).
    ErrorCode("QueueNotEnabled", 409,
              "Items of this type are not kept for the pull queue: set their target to "
              "\"queue\" (PUT /v1/push) to pull them, or receive them at your push URL.",
              "该类消息未设置为队列拉取：请将其目标设为 \"queue\"（PUT /v1/push）后拉取，"
              "或在推送地址接收。"),
    ErrorCode("PushAddressForbidden", 400,
              "Push URLs must reach a public address: loopback, link-local, private, "
              "unique-local, multicast, unspecified and cloud metadata addresses are refused "
              "unless the platform's operator allows their network (push_allowed_networks).",
              "推送地址必须是公网地址：环回、链路本地、私有、唯一本地、组播、未指定及云元数据地址"
              "均被拒绝，除非平台运维方允许其网段（push_allowed_networks）。"),
    # Limits and shapes of HTTP requests (issue 14; docs/api.md, "Limits").
    ErrorCode("RequestTooLarge", 413,
              "The request body is larger than the server accepts (setting max_body_bytes, "
              "1 MiB by default; a 1000-number send is about 15 KB): send fewer numbers per "
              "request.",
              "请求体超过服务器接受的大小（设置项 max_body_bytes，默认 1 MiB；"
              "1000 个号码的发送请求约 15 KB），请减少单次请求的号码数量。"),
    ErrorCode("HeadersTooLarge", 431,
              "The request headers are larger than the server accepts (setting "
              "max_header_bytes, 32 KiB by default).",
              "请求头超过服务器接受的大小（设置项 max_header_bytes，默认 32 KiB）。"),
    ErrorCode("MethodNotAllowed", 405,
              "This URL does not take this HTTP method; the Allow header lists the ones it "
              "takes.",
              "该 URL 不支持此 HTTP 方法，可用的方法见响应头 Allow。"),
    ErrorCode("InternalError", 500,
              "The request processing has failed due to some unknown error.",
              "请求处理失败，发生未知错误。"),
    # Business outcomes (Alibaba's names).
    ErrorCode("isv.OUT_OF_SERVICE", 403,
              "The account is suspended; contact the platform operator.",
              "账号已停用，请联系平台运营方。"),
    ErrorCode("isv.SMS_SIGNATURE_ILLEGAL", 400,
              "The signature is not an approved signature of this account; check SignName "
              "or wait for its review.",
              "该账号下找不到对应的已审核通过签名，请检查签名名称或等待审核。"),
    ErrorCode("isv.SMS_TEMPLATE_ILLEGAL", 400,
              "The template is not an approved template of this account; check TemplateCode "
              "or wait for its review.",
              "该账号下找不到对应的已审核通过模板，请检查模板 Code 或等待审核。"),
    ErrorCode("isv.SMS_SIGNATURE_SCENE_ILLEGAL", 400,
              "A verification-code signature can only send verification-code templates.",
              "验证码类签名只能发送验证码模板。"),
    ErrorCode("isv.SMS_SIGN_NAME_ILLEGAL", 400,
              "The signature name breaks the naming rules: use 2 to 12 Chinese characters, "
              "letters or digits, not only digits, without spaces or punctuation, and a name "
              "that names your business rather than a neutral word such as 测试, test, 验证码, "
              "短信 or 通知; the detail says which rule.",
              "签名名称不符合规范：请使用 2 至 12 个汉字、字母或数字，"
              "不能为纯数字，不能含空格或标点，并使用能代表您业务的名称，"
              "而非测试、test、验证码、短信、通知等无意义词；原因见详情。"),
    ErrorCode("isv.SMS_SIGN_SOURCE_CLOSED", 400,
              "This signature source no longer takes new signatures (filed website, public "
              "account or mini program, e-commerce store, test or study, online trial): apply "
              "with the enterprise's name (SignSource 0), a trademark (5) or an app (2).",
              "该签名来源已不再受理新签名（已备案网站、公众号或小程序、电商店铺、"
              "测试或学习、线上试用）：请以企业名称（SignSource 0）、商标（5）"
              "或 App（2）申请。"),
    ErrorCode("isv.SMS_SIGN_COMPANY_MISMATCH", 400,
              "A signature from an enterprise name must be the company's full name or a "
              "contiguous part of it, as in the account's enterprise qualification: use such "
              "a name, or apply with a trademark (SignSource 5) you hold.",
              "企业名称来源的签名须为企业全称或其中连续的一段，与账号的企业资质一致："
              "请改用这样的名称，或以您持有的商标（SignSource 5）申请。"),
    ErrorCode("isv.MOBILE_NUMBER_ILLEGAL", 400,
              "The phone number is not valid or not supported: use an 11-digit mainland "
              "mobile number of China Mobile, China Unicom or China Telecom (optionally +86, "
              "0086 or 86 before it) or + country code and number; the detail says why.",
              "手机号码格式错误或不支持：请使用中国移动、中国联通、中国电信的 11 位大陆手机号"
              "（可带 +86、0086、86 前缀）或 + 国家码加号码；原因见详情。"),
    ErrorCode("isv.MOBILE_COUNT_OVER_LIMIT", 400,
              "Too many phone numbers in one request: at most 1000 (100 for batch sends).",
              "单次请求手机号码数量超限：最多 1000 个（批量发送最多 100 个）。"),
    ErrorCode("isv.TEMPLATE_MISSING_PARAMETERS", 400,
              "A variable of the template has no value in TemplateParam.",
              "模板变量在 TemplateParam 中缺少取值。"),
    ErrorCode("isv.INVALID_JSON_PARAM", 400,
              "TemplateParam must be a JSON object whose values are all strings, "
              "for example {\"code\":\"1234\"}.",
              "JSON 参数不合法，只接受字符串值，例如 {\"code\":\"1234\"}。"),
    ErrorCode("isv.INVALID_PARAMETERS", 400,
              "A parameter is not valid; see the detail.",
              "参数异常，请查看详情。"),
    ErrorCode("isv.PARAM_NOT_SUPPORT_URL", 400,
              "A template variable may not contain a link; put links in the template text, "
              "which is reviewed.",
              "模板变量不支持链接，请将链接写入需审核的模板内容。"),
    ErrorCode("isv.PARAM_LENGTH_LIMIT", 400,
              "A template variable value is too long, or outside the length its variable "
              "attribute allows (a verification code has 4 to 6 characters); the detail "
              "names the variable.",
              "模板变量取值超出长度限制，或不符合变量属性的长度要求（验证码为 4~6 位）；"
              "详情给出变量名。"),
    ErrorCode("isv.AMOUNT_NOT_ENOUGH", 402,
              "The account balance is below zero: top up the account to send again "
              "(prepaid packages are not used while the balance is negative).",
              "账户余额不足（已欠费）：请充值后再发送（欠费期间套餐包不可用）。"),
    ErrorCode("isv.SMS_TEST_NUMBER_LIMIT", 400,
              "A test signature or test template only sends to the account's bound test "
              "numbers; bind the number first (POST /v1/test-numbers).",
              "测试签名或测试模板只能发送给账号已绑定的测试手机号，请先绑定该号码。"),
    ErrorCode("isv.MOBILE_OPTED_OUT", 400,
              "The number replied R to a promotion of this signature: promotions of this "
              "signature are never sent to it again.",
              "该号码已回复 R 退订此签名的推广短信，此签名的推广短信不会再发送给它。"),
    ErrorCode("isv.MOBILE_IN_BLACKLIST", 400,
              "The number is on the platform blacklist for this signature (its owner "
              "complained); messages of this signature are not sent to it.",
              "该号码因投诉已被列入平台黑名单，不再接收此签名的短信。"),
    ErrorCode("isv.PARAM_NOT_SUPPORT_CHARACTER", 400,
              "A template variable contains a character handsets show as ? (emoji, other "
              "characters beyond U+FFFF, private-use characters): remove it. Invisible "
              "characters (zero-width, control) are removed automatically.",
              "模板变量含有手机无法显示（显示为 ?）的字符（emoji、U+FFFF 以外的字符、私用区字符），"
              "请删除；不可见字符（零宽、控制字符）会被自动去除。"),
    ErrorCode("isv.BLACK_KEY_CONTROL_LIMIT", 400,
              "The message contains a blocked keyword; change the text (the detail names the "
              "keyword and its list).",
              "短信内容含有屏蔽关键字，请修改内容（详情给出关键字及其所属名单）。"),
    ErrorCode("isv.PROMOTION_OPT_OUT_MISSING", 400,
              "A promotion template must carry the opt-out instruction 拒收请回复R.",
              "推广短信模板必须包含退订说明“拒收请回复R”。"),
    ErrorCode("isv.SMS_CONTENT_ILLEGAL", 400,
              "The template's text breaks a review rule (promotional words in a "
              "verification or notification template, a link in a verification template, "
              "no fixed text, too long); the detail names the rule, where, and what to "
              "change.",
              "模板内容不符合审核规范（验证码或通知模板含推广内容、验证码模板含链接、只有变量、"
              "超长）；详情给出规则、位置及修改方法。"),
    ErrorCode("isv.TEMPLATE_PARAMS_ILLEGAL", 400,
              "The template's variables break a review rule (a verification template carries "
              "exactly one variable, the code; variables are written ${name}), or a value "
              "sent is not of its variable's attribute (numberCaptcha digits only, money an "
              "amount, time a date or time, ...); the detail names the rule or the variable, "
              "and what to change.",
              "模板变量不符合规范（验证码模板只能含一个验证码变量；变量须写成 ${name}），"
              "或发送的变量取值不符合其变量属性（仅数字验证码只能为数字、金额须为数字、"
              "时间须为日期或时间等）；详情给出规则或变量名及修改方法。"),
    ErrorCode("isv.PROMOTION_TIME_LIMIT", 400,
              "Promotions to mainland numbers are sent only from 08:00 to 22:00 China time; "
              "send again within those hours.",
              "发往中国大陆号码的推广短信仅在北京时间 08:00 至 22:00 发送，请在该时段内重新发送。"),
    ErrorCode("isv.COUNTRY_REGISTRATION_REQUIRED", 400,
              "This country needs a registration on the account (a toll-free number for the "
              "United States and Canada, a Sender ID for Vietnam); ask the platform operator "
              "to register it.",
              "发往该国家需要在账号下登记（美国、加拿大需登记免费号码，越南需登记 Sender ID），"
              "请联系平台运营方登记。"),
    ErrorCode("isv.BUSINESS_LIMIT_CONTROL", 429,
              "Frequency control: this number has reached a sending limit; the detail names "
              "the limit and when the number can receive again.",
              "触发号码频率限制（流控）：详情中给出触发的限制及可再次发送的时间。"),
    ErrorCode("isv.ENTERPRISE_ACCOUNT_REQUIRED", 403,
              "Only enterprise-verified accounts may whitelist numbers; ask the platform "
              "operator to verify the account's enterprise qualification.",
              "仅企业认证账号可设置号码白名单，请联系平台运营方完成企业资质认证。"),
    ErrorCode("isv.QUALIFICATION_INVALID", 400,
              "The qualification's details are incomplete or malformed; the detail names "
              "each field to correct.",
              "资质信息不完整或格式不正确，详情中列出需要修改的字段。"),
    ErrorCode("isv.QUALIFICATION_NAME_DUPLICATE", 409,
              "The account has a qualification of this name already; choose another "
              "QualificationName.",
              "账号下已有同名资质，请更换资质名称。"),
    ErrorCode("isv.QUALIFICATION_NOT_EXIST", 404,
              "No such qualification on this account; check QualificationGroupId and OrderId "
              "(QuerySmsQualificationRecord lists them).",
              "该账号下不存在此资质，请检查资质 ID 与审核工单 ID（可通过查询资质列表获取）。"),
    ErrorCode("isv.QUALIFICATION_STATE_ILLEGAL", 409,
              "The qualification cannot be changed in its current state: an approved "
              "qualification is not modified; submit a new one.",
              "资质当前状态不允许此操作：审核通过的资质不可修改，请重新提交新的资质。"),
    ErrorCode("isv.QUALIFICATION_NOT_APPROVED", 409,
              "A signature needs an approved qualification: this one is still under review "
              "or was rejected; wait for the review or choose an approved QualificationId.",
              "签名须关联审核通过的资质：该资质仍在审核中或未通过，请等待审核结果或选择已通过的资质。"),
    ErrorCode("isv.QUALIFICATION_IN_USE", 409,
              "Signatures use this qualification; change or delete them before deleting it.",
              "该资质已被签名使用，请先修改或删除相关签名后再删除资质。"),
    ErrorCode("isv.SMS_RELATED_SIGN_ILLEGAL", 400,
              "RelatedSignName is not an approved signature of this account; relate one of "
              "your own approved signatures (QuerySmsSignList lists them).",
              "关联签名不是本账号已审核通过的签名，请关联本账号自己的已通过签名（可通过查询签名列表获取）。"),
    ErrorCode("isv.AUTHORIZATION_LETTER_INVALID", 400,
              "The authorization letter's details are incomplete or malformed; the detail "
              "names each field to correct.",
              "委托授权书信息不完整或格式不正确，详情中列出需要修改的字段。"),
    ErrorCode("isv.AUTHORIZATION_LETTER_NAME_DUPLICATE", 409,
              "The account has an authorization letter of this name already; choose another "
              "AuthorizationLetterName.",
              "账号下已有同名委托授权书，请更换授权书名称。"),
    ErrorCode("isv.AUTHORIZATION_LETTER_NOT_COVERING", 400,
              "A signature for others (ThirdParty true) needs AuthorizationLetterId: a letter "
              "of the account's, valid today, from the qualification's company (the same "
              "OrganizationCode), whose SignList names the signature; the detail says what "
              "is wrong.",
              "他用签名须提供委托授权书（AuthorizationLetterId）：须为本账号的、当前在有效期内、"
              "授权方与资质企业统一社会信用代码一致且授权签名列表包含该签名的授权书；"
              "详情说明具体原因。"),
    ErrorCode("isv.SIGNATURE_NOT_APPROVED", 409,
              "Only an approved signature is registered with the carriers: this one is under "
              "review, rejected or deleted; registration starts by itself once it is approved.",
              "只有审核通过的签名才能向运营商报备：该签名正在审核、未通过或已删除，审核通过后将自动发起报备。"),
    # Document uploads (issue 16 point 1; docs/compliance.md "Document uploads"): the
    # upload endpoint answers OSS's codes, in OSS's XML.
    ErrorCode("isv.DOCUMENT_NOT_UPLOADED", 400,
              "A document reference must be the key of a file this account uploaded: call "
              "GetQualificationOssInfo, POST the file to its Host under its StartPath, then "
              "give that key; the detail names the reference refused.",
              "资料文件须为本账号已上传文件的 Key：请先调用 GetQualificationOssInfo，按其 Host "
              "与 StartPath 上传文件，再填写该 Key；详情中列出被拒绝的引用。"),
    ErrorCode("MalformedPOSTRequest", 400,
              "The body of your POST request is not well-formed multipart/form-data with "
              "the fields key, OSSAccessKeyId, policy, Signature and then file.",
              "POST 请求体不是合法的 multipart/form-data 表单（须含 key、OSSAccessKeyId、policy、"
              "Signature，最后为 file）。"),
    ErrorCode("InvalidAccessKeyId", 403,
              "The OSSAccessKeyId is not one GetQualificationOssInfo answers.",
              "OSSAccessKeyId 不是 GetQualificationOssInfo 返回的值。"),
    ErrorCode("AccessDenied", 403,
              "The upload does not meet its policy (expired, or a key outside the StartPath); "
              "ask GetQualificationOssInfo for a new one.",
              "上传不符合策略（已过期，或 Key 不在 StartPath 之下），请重新调用 "
              "GetQualificationOssInfo 获取。"),
    ErrorCode("InvalidObjectName", 400,
              "The key cannot name a document: letters, digits and _-./ under the StartPath, "
              "no .. or absolute path, ending in .jpg, .jpeg, .png, .gif or .pdf.",
              "Key 不合法：须位于 StartPath 之下，仅含字母、数字与 _-./，不得含 .. 或绝对路径，"
              "并以 .jpg、.jpeg、.png、.gif 或 .pdf 结尾。"),
    ErrorCode("EntityTooLarge", 400,
              "The file is larger than uploads take (setting upload_max_bytes, 5 MiB by "
              "default).",
              "文件超过上传大小上限（设置项 upload_max_bytes，默认 5 MiB）。"),
    ErrorCode("EntityTooSmall", 400,
              "The file is empty.",
              "文件为空。"),
    ErrorCode("InvalidDocumentType", 400,
              "The file's content is not of the type its key's suffix names: JPEG (.jpg, "
              ".jpeg), PNG, GIF or PDF.",
              "文件内容与 Key 的后缀类型不符：仅支持 JPEG（.jpg、.jpeg）、PNG、GIF 与 PDF。"),
    ErrorCode("FileAlreadyExists", 409,
              "The account uploaded a file of this key already; a document is written once: "
              "upload under another name.",
              "该 Key 的文件已上传过，资料文件不可覆盖，请换一个文件名上传。"),
    # Send tasks (issue 17; docs/tasks.md): refusals of the task actions themselves.
    ErrorCode("isv.TASK_FILE_TOO_LARGE", 413,
              "The file is larger than a send task takes (setting task_max_file_bytes, 3 MB "
              "by default): split it into several tasks.",
              "文件超过群发任务的大小上限（设置项 task_max_file_bytes，默认 3 MB），"
              "请拆分为多个任务。"),
    ErrorCode("isv.TASK_TOO_MANY_NUMBERS", 400,
              "The file has more numbers than a send task takes (setting task_max_numbers, "
              "500,000 by default): split it into several tasks.",
              "文件中的号码超过群发任务的上限（设置项 task_max_numbers，默认 500,000 个），"
              "请拆分为多个任务。"),
    ErrorCode("isv.TASK_FILE_UNREADABLE", 400,
              "The file cannot be read as a number list: give a .csv or .txt (UTF-8 or GB18030) "
              "or an .xlsx file; the detail says what was wrong.",
              "无法读取号码文件：请上传 .csv、.txt（UTF-8 或 GB18030 编码）或 .xlsx 文件，"
              "详情说明具体原因。"),
    ErrorCode("isv.TASK_NO_NUMBERS", 400,
              "No row of the file holds a number that can be sent to: download the rejected "
              "rows to see why each was refused.",
              "文件中没有可发送的号码：请下载被拒绝的行查看每行的原因。"),
    ErrorCode("isv.TASK_MISSING_VARIABLE", 400,
              "A variable of the template has neither a value for all numbers nor a column of "
              "its name in the file; the detail names it.",
              "模板变量既未给出统一取值，文件中也没有同名列；详情中给出变量名。"),
    ErrorCode("isv.TASK_NOT_FOUND", 404,
              "The account has no send task of this id.",
              "本账号下不存在该群发任务。"),
    ErrorCode("isv.TASK_STATE_CONFLICT", 409,
              "The send task is not in a state that allows this action; the detail gives its "
              "state (a finished or cancelled task changes no more).",
              "群发任务当前状态不允许该操作，详情中给出其状态（已完成或已取消的任务不可再变更）。"),
    ErrorCode("isv.TASK_NOTHING_TO_RESEND", 409,
              "The send task has no failure worth sending again: numbers refused as invalid, "
              "blacklisted or opted out, and failures a resend cannot change, are never resent.",
              "该群发任务没有可重发的失败号码：无效、黑名单、已退订的号码及重发无法改变结果的失败不会重发。"),
)

REGISTRY: dict[str, ErrorCode] = {c.code: c for c in _CODES}


def lookup(code: str) -> ErrorCode:
    return REGISTRY[code]


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why something was refused: a registered code, what exactly was wrong, which rule."""

    code: str
    detail: str = ""
    rule: str = ""
    retry_after: int | None = None
    """Seconds after which the same request may succeed (throttling): sent as the
    `x-acs-retry-after` and `Retry-After` headers."""

    def __post_init__(self) -> None:
        if self.code not in REGISTRY:
            raise ValueError(f"unregistered error code {self.code!r}")

    @property
    def error(self) -> ErrorCode:
        return REGISTRY[self.code]

    def message(self, lang: Lang = Lang.EN) -> str:
        text = self.error.text(lang)
        if "{detail}" in text:
            return text.replace("{detail}", self.detail)
        return f"{text} ({self.detail})" if self.detail else text
