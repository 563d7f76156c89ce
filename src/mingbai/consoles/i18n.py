"""The consoles' message catalog: every visible string in zh-CN (the default) and English.

A key is ``area.name``; enumerations (channels, statuses, event kinds …) are ``prefix.value``
and fall back to the raw value when a new one appears before its translation does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mingbai.messaging.kinds import MessageKind
from mingbai.subscriptions.events import EventKind

DEFAULT = "zh-CN"
LANGS = ("zh-CN", "en")

#: key → (zh-CN, English)
MESSAGES: dict[str, tuple[str, str]] = {
    "app.name": ("明白", "Mingbai"),
    "app.footer": (
        "明白 · 明明白白消费 · 中国移动增值业务透明消费平台",
        "Mingbai · transparent consumption of value-added services",
    ),
    "a11y.skip": ("跳到正文", "Skip to content"),
    "lang.switch": ("English", "中文"),
    "nav.label": ("主导航", "Main navigation"),
    "nav.agent": ("坐席查询", "Agent console"),
    "nav.catalog": ("业务目录", "Catalog"),
    "nav.dashboard": ("运营看板", "Dashboard"),
    "nav.sign_ins": ("登录日志", "Sign-in log"),
    "nav.audit": ("审计日志", "Audit log"),
    "nav.sp_keys": ("API 密钥", "API keys"),
    "nav.sp": ("SP 门户", "SP portal"),
    "nav.me": ("我的业务", "My services"),
    # roles
    "role.agent": ("10086 坐席", "10086 agent"),
    "role.hall": ("营业厅", "Hall clerk"),
    "role.supervisor": ("班长", "Supervisor"),
    "role.operator": ("运营管理员", "Operator admin"),
    "role.security": ("安全审批人", "Security approver"),
    "role.auditor": ("审计员", "Auditor"),
    "role.sp": ("SP 用户", "SP user"),
    "role.subscriber": ("客户", "Subscriber"),
    "role.smsc": ("短信中心", "SMS centre"),
    # sign-in
    "auth.title": ("登录", "Sign in"),
    "auth.subscriber": ("客户登录", "Subscribers"),
    "auth.subscriber_hint": (
        "输入手机号码,我们将通过 10086 发送短信验证码。",
        "Enter your mobile number; 10086 will text you a one-time code.",
    ),
    "auth.msisdn": ("手机号码", "Mobile number"),
    "auth.send_code": ("获取验证码", "Send code"),
    "auth.code": ("短信验证码", "Code from the SMS"),
    "auth.sign_in": ("登录", "Sign in"),
    "auth.sign_out": ("退出", "Sign out"),
    "auth.demo_handset": ("演示环境:验证码短信显示在演示手机页面", "Demo: the code SMS shows on the demo handset"),
    "auth.staff": ("员工与 SP 登录", "Staff and SPs"),
    "auth.username": ("用户名", "Username"),
    "auth.password": ("密码", "Password"),
    "auth.bad_credentials": ("用户名或密码不正确。", "Wrong username or password."),
    "auth.locked": ("尝试次数过多,请 15 分钟后再试。", "Too many attempts; try again in 15 minutes."),
    "auth.too_many_codes": (
        "验证码请求过于频繁,请稍后再试。",
        "Too many code requests; please try again later.",
    ),
    "auth.no_code": ("验证码无效或已过期,请重新获取。", "That code is no longer valid; ask for a new one."),
    "auth.bad_msisdn": ("请输入11位手机号码。", "Enter an 11-digit mobile number."),
    "auth.code_sent": (
        "如果该号码是中国移动客户,验证码已发送,5分钟内有效。",
        "If the number is a subscriber, a code is on its way; it is valid for 5 minutes.",
    ),
    # notices after an action
    "done.signed_out": ("您已安全退出。", "You have signed out."),
    "done.unsubscribed": ("已退订,确认短信已发送。", "Unsubscribed; a confirmation SMS has been sent."),
    "done.nothing_to_unsubscribe": ("没有可退订的业务。", "Nothing active to unsubscribe."),
    "done.order_placed": (
        "订购已提交,需客户回复短信验证码确认后才生效。",
        "Order placed; it takes effect only when the subscriber confirms the SMS code.",
    ),
    "done.key_revoked": ("密钥已作废。", "Key revoked."),
    "done.sp_active": ("SP 已恢复。", "SP resumed."),
    "done.sp_suspended": ("SP 已暂停受理新订购。", "SP suspended: no new orders."),
    "done.service_active": ("业务已恢复。", "Service resumed."),
    "done.service_suspended": ("业务已暂停受理。", "Service suspended."),
    "done.sp_saved": ("SP 已保存。", "SP saved."),
    "done.service_saved": ("业务已保存。", "Service saved."),
    # errors
    "error.title": ("无法完成", "Could not do that"),
    "error.title_403": ("无权访问", "Not allowed"),
    "error.title_404": ("未找到", "Not found"),
    "error.title_409": ("无法完成", "Could not do that"),
    "error.title_422": ("输入有误", "Check your input"),
    "error.back": ("返回首页", "Back to start"),
    "error.csrf": ("页面已过期,请刷新后重试。", "This page has expired; reload it and try again."),
    "error.forbidden": ("您的角色无权访问此页面。", "Your role may not open this page."),
    "error.not_found": ("没有找到该记录。", "No such record."),
    "error.unknown_subscriber": ("没有该号码的客户。", "No subscriber with that number."),
    "error.unknown_service": ("没有该业务。", "No such service."),
    "error.unknown_order": ("没有该订单。", "No such order."),
    "error.already_subscribed": ("客户已订购该业务。", "The subscriber already has this service."),
    "error.pending_exists": (
        "该业务已有订购在等待客户确认。",
        "An order for this service is already waiting for confirmation.",
    ),
    "error.sp_suspended": ("该 SP 已暂停受理新订购。", "This SP is suspended and takes no new orders."),
    "error.service_suspended": ("该业务已暂停受理。", "This service is suspended."),
    "error.subscriber_inactive": ("该号码当前状态不能订购。", "This number cannot order now."),
    "error.bad_msisdn": ("请输入11位手机号码。", "Enter an 11-digit mobile number."),
    "error.invalid_input": ("表单填写有误,请检查后重试。", "The form was not filled in correctly."),
    "error.bad_date": ("日期格式应为 YYYY-MM-DD。", "Dates look like YYYY-MM-DD."),
    # agent console
    "agent.title": ("坐席查询", "Agent console"),
    "agent.find_label": ("客户手机号码", "Subscriber's mobile number"),
    "agent.find": ("查询", "Find"),
    "agent.find_hint": (
        "查询后显示全部订购关系(15项信息)与一年内变更记录。",
        "Shows every subscription (15 fields) and a year of changes.",
    ),
    "agent.not_found": ("没有该号码的客户。", "No subscriber with that number."),
    "agent.subscriber": ("客户", "Subscriber"),
    "agent.new_search": ("重新查询", "New search"),
    "agent.masked_note": (
        "个人信息已模糊化显示。查看完整信息需金库审批。",
        "Personal data is masked; seeing it in full needs a vault approval.",
    ),
    "agent.subscriptions": ("订购关系", "Subscriptions"),
    "agent.active_count": ("项在用", "active"),
    "agent.unsubscribe": ("退订", "Unsubscribe"),
    "agent.unsubscribe_all": ("全部退订", "Unsubscribe all"),
    "agent.confirm_one": ("确认为客户退订「{name}」?", "Unsubscribe the caller from “{name}”?"),
    "agent.confirm_all": ("确认为客户退订全部业务?", "Unsubscribe the caller from everything?"),
    "agent.channel_note": ("退订与订购记录的渠道:", "Actions are recorded with channel:"),
    "agent.no_subscriptions": ("该客户没有订购关系。", "No subscriptions."),
    "agent.place_order": ("代客订购", "Order for the caller"),
    "agent.order_note": (
        "订购提交后,客户会收到 10086 二次确认短信,回复验证码后才生效并可能收费。",
        "The subscriber gets a 10086 SMS and must reply its code before anything starts or is charged.",
    ),
    "agent.service": ("业务", "Service"),
    "agent.order_button": ("提交订购", "Place order"),
    "agent.pending": ("等待客户确认", "Waiting for the subscriber's confirmation"),
    "agent.history": ("变更记录(一年)", "Change history (one year)"),
    # the 15 fields (R5)
    "f.sp_name": ("SP 名称", "SP"),
    "f.service_code": ("业务代码", "Service code"),
    "f.service_name": ("业务名称", "Service"),
    "f.order_time": ("订购时间", "Ordered"),
    "f.service_type": ("业务类型", "Type"),
    "f.billing": ("计费类型", "Billing"),
    "f.price": ("资费", "Price"),
    "f.status": ("状态", "Status"),
    "f.channel": ("订购渠道", "Order channel"),
    "f.history": ("变更历史", "Change history"),
    "f.history_count": ("{n} 条记录", "{n} entries"),
    "f.hotline": ("SP 客服电话", "SP hotline"),
    "f.contact": ("联系人", "Contact"),
    "f.gifter": ("赠送人", "Gifted by"),
    "gift.given": ("赠送给他人的业务(由本号码付费)", "Gifts paid by this number"),
    "gift.to": ("赠送给 {who}", "Given to {who}"),
    "gift.from": ("赠送自 {who}", "Given by {who}"),
    "gift.paid_by_gifter": ("由赠送人付费", "paid by the gifter"),
    "f.description": ("业务描述", "Description"),
    "f.attributes": ("业务属性", "Attributes"),
    "f.free_until": ("免费至", "Free until"),
    "f.first_charge": ("首次收费日", "first fee on"),
    "unit.per_month": ("/月", "/month"),
    "unit.per_use": ("/次", "/use"),
    "sub.msisdn": ("号码", "Number"),
    "sub.name": ("姓名", "Name"),
    "sub.id_number": ("证件号码", "ID number"),
    "sub.brand": ("品牌", "Brand"),
    "sub.area": ("归属地", "Home area"),
    "sub.status": ("号码状态", "Line status"),
    "charges.title": ("扣费与账单", "Charges and bills"),
    "charges.not_yet": (
        "计费功能上线后,这里显示扣费明细与账单。",
        "Charges and bills appear here once charging is running.",
    ),
    "charges.none": ("近期没有扣费。", "No recent charges."),
    "h.at": ("时间", "Time"),
    "h.event": ("事件", "Event"),
    "h.service": ("业务", "Service"),
    "h.channel": ("渠道", "Channel"),
    "h.actor": ("操作人", "By"),
    "h.amount": ("金额", "Amount"),
    "h.code": ("代码", "Code"),
    "h.name": ("名称", "Name"),
    "h.order": ("订单", "Order"),
    "h.actions": ("操作", "Actions"),
    # subscriber portal
    "me.title": ("我的业务", "My services"),
    "me.intro": (
        "这里列出您订购的全部增值业务,可随时退订,退订立即生效。",
        "Every value-added service you have, and one click to stop it.",
    ),
    "me.active": ("在用业务", "Active"),
    "me.unsubscribe": ("退订", "Unsubscribe"),
    "me.unsubscribe_all": ("全部退订", "Unsubscribe all"),
    "me.confirm_one": ("确定退订「{name}」?", "Unsubscribe from “{name}”?"),
    "me.confirm_all": ("确定退订全部业务?", "Unsubscribe from everything?"),
    "me.free_until": ("免费至 {day}", "Free until {day}"),
    "me.first_charge": ("{day} 起收费", "charged from {day}"),
    "me.ordered_on": ("订购于 {day}", "ordered {day}"),
    "me.none": ("您当前没有订购任何增值业务。", "You have no value-added services."),
    "me.ended": ("已退订", "Ended"),
    "me.ended_on": ("退订于 {day}", "ended {day}"),
    "me.bill": ("我的账单与扣费", "My bill and charges"),
    "me.bill_total": ("{period} 增值业务费用", "Value-added services in {period}"),
    "me.since": ("订购时间", "Since"),
    # SP portal
    "sp.title": ("SP 门户", "SP portal"),
    "sp.window": ("订购统计自 {day} 起", "Order figures since {day}"),
    "sp.services": ("我的业务", "My services"),
    "sp.orders": ("我的订单(最近50笔)", "My orders (latest 50)"),
    "sp.no_orders": ("暂无订单。", "No orders yet."),
    "sp.active": ("在用订购关系", "Active subscriptions"),
    "sp.no_active": ("暂无在用订购关系。", "No active subscriptions."),
    "sp.expires": ("确认截止", "Confirm by"),
    "sp.keys": ("API 密钥", "API keys"),
    "sp.new_key": ("新密钥", "New key"),
    "sp.new_key_once": ("请立即复制保存:密钥只显示这一次。", "Copy it now: the key is shown only this once."),
    "sp.key": ("密钥", "Key"),
    "sp.create_key": ("创建密钥", "Create a key"),
    "sp.key_label": ("用途说明", "Label"),
    "sp.create": ("创建", "Create"),
    "sp.key_list": ("我的密钥", "My keys"),
    "sp.prefix": ("前缀", "Prefix"),
    "sp.revoked": ("已作废", "Revoked"),
    "sp.revoke": ("作废", "Revoke"),
    "sp.no_keys": ("还没有密钥。", "No keys yet."),
    "sp.bad_label": ("用途说明需为 1–64 个字符。", "The label must be 1–64 characters."),
    # figures
    "k.orders": ("订购请求", "Orders"),
    "k.confirmed": ("已确认", "Confirmed"),
    "k.rate": ("确认率", "Confirmation rate"),
    "k.active": ("在用", "Active"),
    "k.unsubscribed": ("退订", "Unsubscriptions"),
    "k.queries": ("0000 查询", "“0000” queries"),
    "k.reminders": ("提醒短信", "Reminders sent"),
    # operator
    "ops.title": ("运营看板", "Operator dashboard"),
    "ops.from": ("从", "From"),
    "ops.to": ("至", "To"),
    "ops.show": ("查看", "Show"),
    "ops.chart_daily": ("每日订购、确认、退订与查询", "Orders, confirmations, unsubscriptions and queries per day"),
    "ops.chart_sp": ("各 SP 订购与退订", "Orders and unsubscriptions per SP"),
    "ops.chart_rate": ("每日确认率(%)", "Confirmation rate per day (%)"),
    "ops.chart_reminders": ("每日提醒短信", "Reminders sent per day"),
    "ops.per_sp": ("按 SP", "Per SP"),
    "ops.per_day": ("按日", "Per day"),
    "ops.day": ("日期", "Day"),
    "ops.catalog": ("业务目录管理", "Catalog administration"),
    "ops.sps": ("服务提供商", "Service providers"),
    "ops.services": ("业务", "Services"),
    "ops.access_number": ("接入号", "Access number"),
    "ops.credit": ("信用分", "Credit"),
    "ops.keyword": ("上行指令", "MO keyword"),
    "ops.suspend": ("暂停", "Suspend"),
    "ops.resume": ("恢复", "Resume"),
    "ops.save_sp": ("新增或修改 SP", "Add or change an SP"),
    "ops.save_service": ("新增或修改业务", "Add or change a service"),
    "ops.price_fen": ("资费(分)", "Price (fen)"),
    "ops.save": ("保存", "Save"),
    "ops.edit": ("修改", "Edit"),
    "ops.reason": ("原因", "Reason"),
    "ops.confirm_suspend": ("确认暂停 {code}", "Suspend {code}"),
    "ops.changes": ("暂停与恢复记录", "Suspensions and resumptions"),
    "ops.blank_keeps": (
        "修改已有记录时,留空的选填项保持原值。",
        "When changing a record, an optional field left blank keeps its value.",
    ),
    "ops.invalid": ("未保存", "Not saved"),
    "chart.orders": ("订购请求", "Orders"),
    "chart.confirmed": ("已确认", "Confirmed"),
    "chart.unsubscribed": ("退订", "Unsubscriptions"),
    "chart.queries": ("0000 查询", "Queries"),
    "chart.rate": ("确认率", "Confirmation rate"),
    # security
    "sec.title": ("登录日志", "Sign-in log"),
    # the auditor console (issue 16)
    "audit.title": ("审计日志", "Audit log"),
    "audit.msisdn": ("客户号码", "Subscriber number"),
    "audit.staff": ("员工", "Staff member"),
    "audit.action": ("操作(前缀)", "Operation (prefix)"),
    "audit.since": ("起始日期", "From"),
    "audit.until": ("截止日期", "Until"),
    "audit.search": ("查询", "Search"),
    "audit.hint": (
        "号码以密钥哈希检索,日志中只存掩码;员工可填 alice 或 agent:alice;操作如 catalog.、subscriber.view。",
        "Numbers are found by their keyed hash; the log keeps them masked only. Staff: alice or agent:alice; "
        "operation: catalog., subscriber.view …",
    ),
    "audit.export": ("导出 CSV", "Export CSV"),
    "audit.verify": ("校验哈希链", "Verify the chain"),
    "audit.verify_ok": (
        "校验通过:没有记录被修改、删除、插入或调换顺序。",
        "Verified: no entry was changed, removed, inserted or reordered.",
    ),
    "audit.verify_bad": ("校验失败:审计日志被篡改。", "Verification failed: the audit log was tampered with."),
    "audit.entries": ("记录数", "Entries"),
    "audit.first_bad": ("第一条异常记录", "First bad entry"),
    "audit.checkpoints": ("签名检查点", "Signed checkpoints"),
    "audit.reason": ("原因", "Reason"),
    "audit.back": ("返回审计日志", "Back to the audit log"),
    "audit.none": ("没有符合条件的记录。", "No entries match."),
    "audit.bad_query": ("查询条件有误", "The search is not valid"),
    "audit.h_actor": ("操作人", "Who"),
    "audit.h_role": ("角色", "Role"),
    "audit.h_action": ("操作", "Operation"),
    "audit.h_subject": ("对象", "Subject"),
    "audit.h_outcome": ("结果", "Outcome"),
    "audit.h_detail": ("详情", "Detail"),
    "audit_outcome.ok": ("成功", "ok"),
    "audit_outcome.denied": ("被拒绝", "denied"),
    "audit_outcome.failed": ("失败", "failed"),
    "sec.show_failures": ("只看失败", "Failures only"),
    "sec.show_all": ("查看全部", "Show all"),
    "sec.method": ("方式", "Method"),
    "sec.subject": ("账号", "Account"),
    "sec.address": ("来源地址", "Address"),
    "sec.result": ("结果", "Result"),
    "sec.none": ("没有记录。", "Nothing logged."),
    # enumerations
    "type.sms": ("短信", "SMS"),
    "type.mms": ("彩信", "MMS"),
    "type.wap": ("WAP", "WAP"),
    "type.kjava": ("百宝箱", "Java games"),
    "type.pda": ("PDA", "PDA"),
    "type.animation": ("手机动画", "Animation"),
    "type.voice": ("语音", "Voice"),
    "type.other": ("其他", "Other"),
    "billing.monthly": ("包月", "Monthly"),
    "billing.per_use": ("按次", "Per use"),
    "billing.free": ("免费", "Free"),
    "status.active": ("正常", "Active"),
    "status.suspended": ("已暂停", "Suspended"),
    "status.unsubscribed": ("已退订", "Unsubscribed"),
    "status.disabled": ("已停用", "Disabled"),
    "order.pending": ("待确认", "Pending"),
    "order.confirmed": ("已确认", "Confirmed"),
    "order.expired": ("已过期", "Expired"),
    "order.failed": ("未成功", "Failed"),
    "channel.sp": ("SP 渠道", "SP"),
    "channel.sms": ("短信", "SMS"),
    "channel.web": ("网站", "Web"),
    "channel.wap": ("WAP", "WAP"),
    "channel.hotline": ("10086 热线", "10086 hotline"),
    "channel.hall": ("营业厅", "Business hall"),
    "channel.terminal": ("自助终端", "Self-service terminal"),
    "channel.system": ("系统", "System"),
    "channel.api": ("接口", "API"),
    "channel.cli": ("命令行", "Command line"),
    "channel.scheduler": ("定时任务", "Scheduler"),
    "channel.campaign": ("提醒活动", "Campaign"),
    # who did it: "kind:name" actors of the event log, and the bare ones
    "actor.subscriber": ("客户", "Subscriber"),
    "actor.sp": ("SP", "SP"),
    "actor.cli": ("命令行", "Command line"),
    "actor.api": ("接口", "API"),
    "actor.reports": ("举报审核", "Report review"),
    "actor.agent": ("10086 坐席", "10086 agent"),
    "actor.hall": ("营业厅", "Hall clerk"),
    "actor.supervisor": ("班长", "Supervisor"),
    "actor.operator": ("运营管理员", "Operator admin"),
    "actor.security": ("安全审批人", "Security approver"),
    "actor.auditor": ("审计员", "Auditor"),
    "actor.reviewer": ("审核员", "Reviewer"),
    "actor.smsc": ("短信中心", "SMS centre"),
    "actor.system": ("系统", "System"),
    "actor.scheduler": ("定时任务", "Scheduler"),
    "actor.seed": ("初始数据", "Seed data"),
    "actor.demo": ("演示数据", "Demo data"),
    "ops.range_cut": (
        "所选范围超过一年:未显示 {asked} 起的全部数据,只显示 {start} 起的 {days} 天。",
        "The range asked for is longer than a year: not everything from {asked} is shown, "
        "only the {days} days from {start}.",
    ),
    "ops.unit_week": (
        "范围超过 90 天:图表按周汇总(标注为每周一)。",
        "Over 90 days: the charts add up weeks (labelled by their Monday).",
    ),
    "ops.unit_month": ("范围超过半年:图表按月汇总。", "Over half a year: the charts add up months."),
    "brand.gotone": ("全球通", "GoTone"),
    "brand.mzone": ("动感地带", "M-Zone"),
    "brand.easyown": ("神州行", "Easyown"),
    "brand.other": ("其他", "Other"),
    "method.password": ("密码", "Password"),
    "method.sms_code": ("短信验证码", "SMS code"),
    "method.sms_request": ("申请验证码", "Code request"),
    "reason.ok": ("成功", "Signed in"),
    "reason.sent": ("已发送", "Sent"),
    "reason.bad_credentials": ("凭据错误", "Wrong credentials"),
    "reason.locked": ("已锁定", "Locked out"),
    "reason.disabled": ("账号已停用", "Account disabled"),
    "reason.no_code": ("无有效验证码", "No valid code"),
    "reason.unknown": ("非本网客户", "Not a subscriber"),
    "reason.throttled": ("发送过于频繁", "Too many codes"),
}

#: the vault (金库模式, R13): requests, approvals, break-glass, the subscriber's access history
VAULT_MESSAGES: dict[str, tuple[str, str]] = {
    "nav.vault_mine": ("金库申请", "Vault requests"),
    "nav.vault_exports": ("批量导出", "Bulk exports"),
    "nav.vault_queue": ("金库审批", "Vault approvals"),
    "nav.my_access": ("谁查看了我的信息", "Who looked at my data"),
    "vop.cdr": ("通话详单", "Call detail records"),
    "vop.location": ("位置信息", "Location"),
    "vop.identity": ("实名身份信息", "Identity data"),
    "vop.identity_change": ("实名资料变更", "Identity data change"),
    "vop.export": ("批量导出", "Bulk export"),
    "vstatus.pending": ("待审批", "Waiting for approval"),
    "vstatus.approved": ("已批准", "Approved"),
    "vstatus.denied": ("已拒绝", "Denied"),
    "vstatus.expired": ("已过期", "Expired"),
    "vstatus.used": ("已使用", "Used"),
    "vexport.subscribers": ("客户清单", "Subscribers"),
    "vexport.subscriptions": ("订购关系清单", "Subscriptions"),
    "vfilter.status": ("状态(选填)", "Status (optional)"),
    "vfilter.msisdn_prefix": ("号段前缀(选填)", "Number prefix (optional)"),
    "vfilter.service_code": ("业务代码(选填)", "Service code (optional)"),
    "vfilter.sp_code": ("SP 代码(选填)", "SP code (optional)"),
    "idtype.id_card": ("居民身份证", "Resident ID card"),
    "idtype.passport": ("护照", "Passport"),
    "idtype.other": ("其他证件", "Other"),
    "cdr.kind": ("类型", "Kind"),
    "cdr.direction": ("方向", "Direction"),
    "cdr.other": ("对方号码", "Other party"),
    "cdr.duration": ("时长(秒)", "Duration (s)"),
    "cdr.volume": ("流量(KB)", "Data (KB)"),
    "cdr.cell": ("小区", "Cell"),
    "cdrkind.voice": ("语音", "Voice"),
    "cdrkind.sms": ("短信", "SMS"),
    "cdrkind.data": ("上网", "Data"),
    "cdrdir.out": ("主叫", "Outgoing"),
    "cdrdir.in": ("被叫", "Incoming"),
    "loc.area": ("位置", "Area"),
    "loc.position": ("经纬度", "Lat, lon"),
    "vault.ask_title": ("敏感信息(金库模式)", "Sensitive data (vault)"),
    "vault.ask_note": (
        "每次只能申请一项操作,须写明事由;安全审批人批准后,仅您本人可在时限内使用一次。",
        "Ask for one operation at a time, with a reason; once a security approver agrees, only you may use it, "
        "once, within its window.",
    ),
    "vault.ask_open": ("申请查看敏感信息", "Ask for sensitive data"),
    "vault.ask": ("提交申请", "Ask"),
    "vault.operation": ("操作", "Operation"),
    "vault.subject": ("对象", "Subject"),
    "vault.from": ("起始日期", "From"),
    "vault.to": ("截止日期", "To"),
    "vault.reason": ("事由", "Reason"),
    "vault.reason_hint": ("例如:客户来电投诉话费异常,核对详单", "e.g. the caller disputes a call charge"),
    "vault.new_name": ("新姓名", "New name"),
    "vault.id_type": ("证件类型", "ID type"),
    "vault.new_id_number": ("新证件号码", "New ID number"),
    "vault.mine_title": ("我的金库申请", "My vault requests"),
    "vault.mine_link": ("查看我的金库申请", "See my vault requests"),
    "vault.mine_note": (
        "状态自动刷新。批准后点击“使用”查看结果:结果只显示一次,不会缓存。",
        "This list updates itself. Once approved, “Use” shows the result once; it is never cached.",
    ),
    "vault.none_mine": ("还没有申请。", "No requests yet."),
    "vault.use": ("使用(查看一次)", "Use (view once)"),
    "vault.use_export": ("下载导出文件(一次)", "Download the export (once)"),
    "vault.usable_until": ("{at} 前可用", "usable until {at}"),
    "vault.denied_because": ("拒绝理由:{why}", "Denied: {why}"),
    "vault.badge": ("待处理金库事项", "vault items waiting"),
    "vault.badge_ready": ("可使用的金库审批", "approvals ready to use"),
    "vault.result_title": ("金库查询结果", "Vault result"),
    "vault.once": (
        "以下信息仅本次显示,刷新或返回后不可再看;如需再次查看请重新申请。",
        "Shown this once only: reloading or going back will not show it again; ask again if needed.",
    ),
    "vault.subscriber_told": ("客户已收到 10086 短信提醒。", "The subscriber has been told by a 10086 SMS."),
    "vault.no_rows": ("该时间段没有记录。", "No records in that range."),
    "vault.rows": ("共 {n} 条。", "{n} records."),
    "vault.identity_changed": ("实名资料已按批准的内容变更。", "The identity data has been changed as approved."),
    "vault.glass_title": ("紧急访问(破窗)", "Emergency access (break glass)"),
    "vault.glass_note": (
        "未经审批直接查看:本次访问将被标记,安全部门立即收到告警并事后复核,客户会收到提醒短信。仅限紧急情况。",
        "Access without approval: it is flagged, security is alerted at once and reviews it, and the subscriber "
        "is told. Emergencies only.",
    ),
    "vault.glass_button": ("紧急访问", "Break the glass"),
    "vault.glass_flag": ("紧急访问", "Break-glass"),
    "vault.glass_done": (
        "这是一次紧急访问(破窗):已通知安全审批人,等待事后复核。",
        "This was a break-glass access: security has been alerted and will review it.",
    ),
    "vault.export_title": ("批量导出(需金库审批)", "Bulk exports (vault approval)"),
    "vault.export_note": (
        "每个导出定义须经 {n} 位安全审批人批准;批准后在“我的金库申请”中下载一次。",
        "Each export definition needs {n} security approver(s); once approved, download it once from "
        "“My vault requests”.",
    ),
    "vault.export_link": ("申请批量导出", "Ask for a bulk export"),
    "vault.queue_title": ("金库审批", "Vault approvals"),
    "vault.queue_note": (
        "列表自动刷新。审批人不能批准自己的申请;拒绝须写明理由。也可回复审批短信中的验证码批准。",
        "This list updates itself. Nobody approves their own request; a denial needs a reason. Replying to the "
        "approval SMS with its code approves too.",
    ),
    "vault.pending": ("待我审批", "Waiting for me"),
    "vault.none_pending": ("没有待审批的申请。", "Nothing waiting."),
    "vault.requester": ("申请人", "Asked by"),
    "vault.approvals": ("已批准 {n}/{of}", "{n} of {of} approvals"),
    "vault.approve": ("批准", "Approve"),
    "vault.deny": ("拒绝", "Deny"),
    "vault.deny_reason": ("拒绝理由", "Why"),
    "vault.reviews": ("待复核的紧急访问", "Break-glass accesses to review"),
    "vault.none_reviews": ("没有待复核的紧急访问。", "Nothing to review."),
    "vault.review_note": ("复核意见", "Review note"),
    "vault.accept": ("复核通过", "Accept"),
    "vault.escalate": ("上报处理", "Escalate"),
    "access.title": ("谁查看了我的信息", "Who looked at my data"),
    "access.intro": (
        "工作人员查看您的通话详单、位置或实名信息时,都须经安全审批并记录在此:何时、哪个部门的何种岗位、事由。",
        "Staff see your call records, location or identity only with a security approval, and each time is "
        "listed here: when, which unit and role, and why.",
    ),
    "access.who": ("查看方", "Looked by"),
    "access.emergency": ("紧急访问", "Emergency"),
    "access.none": ("没有工作人员查看过您的敏感信息。", "No member of staff has looked at your sensitive data."),
    "done.vault_requested": (
        "申请已提交,安全审批人已收到通知。批准后本页会自动显示“使用”按钮。",
        "Asked; the security approvers have been notified. A “Use” button appears here once approved.",
    ),
    "done.vault_approved": ("已批准。", "Approved."),
    "done.vault_denied": ("已拒绝。", "Denied."),
    "done.vault_reviewed": ("已复核。", "Reviewed."),
    "error.used": (
        "该审批已使用过,结果只能查看一次;如需再次查看请重新申请。",
        "This approval has been used: a result is shown once. Ask again.",
    ),
    "error.expired": ("该申请已过期,请重新申请。", "This request has expired; ask again."),
    "error.denied": ("该申请已被拒绝。", "This request was denied."),
    "error.not_approved": ("该申请尚未批准。", "This request has not been approved yet."),
    "error.not_requester": ("只有申请人本人可以使用该审批。", "Only the requester may use this approval."),
    "error.self_approval": ("不能审批自己的申请。", "Nobody approves their own request."),
    "error.not_pending": ("该申请已处理,不在待审批状态。", "This request is no longer waiting for a decision."),
    "error.already_decided": ("您已处理过该申请。", "You have already decided this request."),
    "error.unknown_request": ("没有该金库申请。", "No such vault request."),
    "error.bad_reason": ("请写明事由(4–200 个字)。", "Give a reason of 4 to 200 characters."),
    "error.bad_range": (
        "日期范围有误:不能晚于今天,最长 92 天。",
        "Check the dates: not in the future, at most 92 days.",
    ),
    "error.bad_operation": ("不支持的操作。", "Not an operation that can be asked for."),
    "error.bad_identity": ("新的实名资料填写有误。", "The new identity data is not valid."),
    "error.bad_export": ("导出定义有误。", "The export definition is not valid."),
    "error.not_break_glass_role": ("您的岗位不能紧急访问。", "Your role may not break the glass."),
    "error.reviewed": ("该紧急访问已复核。", "This access has been reviewed."),
    "error.no_profile": ("该号码没有实名登记信息。", "This number has no real-name registration."),
    "error.export_too_large": ("导出行数过多,请缩小筛选范围。", "Too many rows; narrow the filters."),
}

#: the label of each outbox kind (``kind.<value>``)
MESSAGE_KINDS: dict[MessageKind, tuple[str, str]] = {
    MessageKind.REPLY: ("回复", "Reply"),
    MessageKind.QUERY_REPLY: ("查询结果", "Query reply"),
    MessageKind.CONFIRMATION_REQUEST: ("二次确认", "Confirmation request"),
    MessageKind.ORDER_REMINDER: ("订购提醒", "Order reminder"),
    MessageKind.UNSUBSCRIBE_CONFIRMATION: ("退订提醒", "Unsubscription notice"),
    MessageKind.MONTHLY_REMINDER: ("月中提醒", "Monthly reminder"),
    MessageKind.CAMPAIGN: ("集中提醒", "Campaign reminder"),
    MessageKind.CHARGE_REMINDER: ("扣费提醒", "Deduction reminder"),
    MessageKind.OBJECTION_ACK: ("异议受理", "Objection accepted"),
    MessageKind.ENTRY_REMINDER: ("入网提醒", "Welcome reminder"),
    MessageKind.TRAFFIC_ALERT: ("流量提醒", "Data usage alert"),
    MessageKind.NOTICE: ("举报处理通知", "Report outcome"),
    MessageKind.LOGIN_CODE: ("登录验证码", "Sign-in code"),
    MessageKind.DISPUTE: ("费用争议处理", "Dispute outcome"),
    MessageKind.VAULT_CODE: ("金库审批验证码", "Vault approval code"),
    MessageKind.VAULT_NOTICE: ("敏感信息查询提醒", "Sensitive data access notice"),
    MessageKind.VAULT_ALERT: ("紧急访问告警", "Break-glass alert"),
}
#: the label of each subscription event kind (``event.<value>``)
EVENT_KINDS: dict[EventKind, tuple[str, str]] = {
    EventKind.ORDER_PLACED: ("提交订购", "Order placed"),
    EventKind.ORDER_CONFIRMED: ("客户确认", "Confirmed by subscriber"),
    EventKind.SUBSCRIBED: ("开通", "Subscribed"),
    EventKind.UNSUBSCRIBED: ("退订", "Unsubscribed"),
    EventKind.LATE_CODE: ("验证码过期后回复", "Code sent too late"),
    EventKind.CODE_REJECTED: ("验证码错误", "Wrong code"),
    EventKind.CODE_LOCKED: ("验证码错误次数过多", "Too many wrong codes"),
    EventKind.ORDER_REFUSED: ("订购被拒", "Order refused"),
    EventKind.GIFT_CONSENTED: ("赠送一方已确认", "Gift agreed by one side"),
    EventKind.ORDER_EXPIRED: ("订购未确认已过期", "Order expired unconfirmed"),
    EventKind.CHARGE_OBJECTED: ("扣费异议", "Charge objected"),
    EventKind.DISPUTE_OPENED: ("受理费用争议", "Dispute opened"),
    EventKind.DISPUTE_DECIDED: ("争议核查完毕", "Dispute decided"),
    EventKind.DISPUTE_DISCRETIONARY: ("酌情退费", "Discretionary refund"),
}
MESSAGES |= VAULT_MESSAGES
MESSAGES |= {f"kind.{k}": v for k, v in MESSAGE_KINDS.items()}
MESSAGES |= {f"event.{k}": v for k, v in EVENT_KINDS.items()}


def has(key: str) -> bool:
    return key in MESSAGES


def other(lang: str) -> str:
    return "en" if lang == "zh-CN" else "zh-CN"


def translator(lang: str) -> Callable[..., str]:
    index = LANGS.index(lang) if lang in LANGS else 0

    def t(key: str, **values: Any) -> str:
        pair = MESSAGES.get(key)
        if pair is None:
            return key
        text = pair[index]
        return text.format(**values) if values else text

    return t


def actor_label(lang: str, actor: str | None, mask: Callable[[str], str]) -> str:
    """Who did it, in words: ``subscriber:13900139000`` → 客户 139****9000, ``cli:operator`` →
    命令行 operator, ``system`` → 系统. ``mask`` hides numbers in the name part; an actor of an
    unknown kind keeps its raw (masked) text rather than disappear."""
    if not actor:
        return "—"
    t = translator(lang)
    kind, _, name = actor.partition(":")
    key = f"actor.{kind}"
    if key not in MESSAGES:
        return mask(actor)
    return f"{t(key)} {mask(name)}" if name else t(key)


def enum_translator(lang: str) -> Callable[[str, str | None], str]:
    t = translator(lang)

    def tr(prefix: str, value: str | None) -> str:
        if value is None:
            return "—"
        key = f"{prefix}.{value}"
        return t(key) if key in MESSAGES else value

    return tr
