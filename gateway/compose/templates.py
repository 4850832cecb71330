"""Jinja2 templates of the gateway's own mails, kept in the package as text.

Names ending in .html are autoescaped; .txt are plain text (their values are cleaned of control
characters by the caller). The HTML is for mail clients: tables and inline styles, no CSS file.
"""

from __future__ import annotations

from typing import Final

# The notification holds one block per language (NOTICE_BLOCK_*, rendered with t() bound to that
# language), in the order the sender or letters.notification_languages gives.
NOTICE_BLOCK_TXT: Final = """\
{{ t('notice.greeting') }}

{{ t('notice.intro') }}

{{ t('field.reference') }}{{ colon }}{{ reference }}
{{ t('field.deposited') }}{{ colon }}{{ deposited }}
{% if sender %}{{ t('field.sender') }}{{ colon }}{{ sender }}
{% if subject %}{{ t('field.subject') }}{{ colon }}{{ subject }}
{% endif %}{% else %}{{ t('notice.sender_hidden') }}
{% endif %}
{{ t('notice.deadline', time=deadline) }}

{{ t('notice.action') }}
{{ link }}

{{ t('notice.content_note') }}
{{ t('notice.recorded_note') }}
{{ t('notice.automatic', provider=provider) }}
"""

NOTIFICATION_TXT: Final = """\
{% for block in blocks %}{% if not loop.first %}
{{ '=' * 60 }}

{% endif %}{{ block }}{% endfor %}
{% if summary %}{{ summary }}

{% endif %}{{ '-- ' }}
{{ provider }}
"""

NOTICE_BLOCK_HTML: Final = """\
<div lang="{{ lang }}" dir="{{ dir }}" style="text-align:{{ start }};">
<p style="margin:0 0 12px 0;">{{ t('notice.greeting') }}</p>
<p style="margin:0 0 16px 0;font-size:20px;font-weight:bold;">{{ t('notice.intro') }}</p>
<table role="presentation" cellpadding="0" cellspacing="0" border="0" dir="{{ dir }}"
 style="margin:0 0 16px 0;font-size:15px;">
<tr><td style="{{ label }}">{{ t('field.reference') }}</td>
<td style="padding:2px 0;"><bdi>{{ reference }}</bdi></td></tr>
<tr><td style="{{ label }}">{{ t('field.deposited') }}</td>
<td style="padding:2px 0;"><bdi>{{ deposited }}</bdi></td></tr>
{% if sender %}<tr><td style="{{ label }}">{{ t('field.sender') }}</td>
<td style="padding:2px 0;"><bdi>{{ sender }}</bdi></td></tr>
{% if subject %}<tr><td style="{{ label }}">{{ t('field.subject') }}</td>
<td style="padding:2px 0;"><bdi>{{ subject }}</bdi></td></tr>
{% endif %}{% endif %}
</table>
{% if not sender %}<p style="margin:0 0 16px 0;">{{ t('notice.sender_hidden') }}</p>
{% endif %}
<p style="margin:0 0 20px 0;font-weight:bold;">{{ t('notice.deadline', time=deadline) }}</p>
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">
<tr><td align="center" style="padding:0 0 20px 0;">
<a href="{{ link }}" style="display:block;padding:16px 20px;background:#1d4ed8;color:#ffffff;
text-decoration:none;font-weight:bold;font-size:18px;border-radius:6px;text-align:center;">
{{ t('notice.button') }}</a>
</td></tr>
</table>
<p style="margin:0 0 4px 0;font-size:13px;color:#4b5563;">{{ t('notice.copy_link') }}</p>
<p dir="ltr" style="margin:0 0 16px 0;font-size:13px;color:#4b5563;word-break:break-all;
text-align:{{ start }};"><span>{{ link }}</span></p>
<p style="margin:0 0 8px 0;">{{ t('notice.content_note') }}</p>
<p style="margin:0 0 16px 0;">{{ t('notice.recorded_note') }}</p>
<p style="margin:0 0 16px 0;font-size:12px;color:#6b7280;">
{{ t('notice.automatic', provider=provider) }}</p>
</div>
"""

NOTIFICATION_HTML: Final = """\
<!DOCTYPE html>
<html lang="{{ lang }}" dir="{{ dir }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ t('notice.intro') }}</title>
</head>
<body style="margin:0;padding:0;background:#f3f4f6;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"
 style="background:#f3f4f6;">
<tr><td align="center" style="padding:16px 8px;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"
 style="max-width:560px;background:#ffffff;border-radius:8px;border:1px solid #e5e7eb;
font-family:Arial,Helvetica,sans-serif;font-size:16px;line-height:1.5;color:#111827;">
<tr><td style="padding:16px 20px;background:#1e3a5f;color:#ffffff;border-radius:8px 8px 0 0;
font-size:14px;">{{ provider }} — {{ t('site.name') }}</td></tr>
{% for block in blocks %}<tr><td style="padding:20px;{% if not loop.first %}
border-top:2px solid #e5e7eb;{% endif %}">
{{ block }}</td></tr>
{% endfor %}{% if summary %}<tr><td lang="en" dir="ltr" style="padding:12px 20px;text-align:left;
border-top:1px solid #e5e7eb;font-size:14px;color:#4b5563;">{{ summary }}</td></tr>
{% endif %}
</table>
</td></tr>
</table>
</body>
</html>
"""

PROOF_TXT: Final = """\
{{ title }}
{{ '=' * title|length }}

{{ t('proof.intro', provider=provider) }}

{{ t('proof.type') }} : {{ title }}
{{ t('field.reference') }} : {{ reference }}
{{ t('field.sender') }} : {{ sender }}
{% if declared %}{{ t('field.declared_name') }} : {{ declared }}
{% endif %}{{ t('field.recipient') }} : {{ recipient }}
{{ t('field.subject') }} : {{ subject }}
{{ t('proof.deposited') }} : {{ deposited }}
{{ t('proof.event_time') }} : {{ event_time }}
{% if deadline %}{{ t('proof.deadline') }} : {{ deadline }}
{% endif %}
{{ t('proof.what') }} : {{ what }}
{% if reason %}{{ t('proof.reason') }} : {{ reason }}
{% endif %}
{{ t('proof.message_title') }}
{{ t('proof.sha256') }} : {{ sha256 }}
{{ t('proof.size') }} : {{ size }}
{{ t('proof.attachments') }} :{% if not attachments %} {{ t('proof.no_attachments') }}{% endif %}
{% for a in attachments %}  - {{ a.name }} ({{ a.content_type }}, {{ a.size }})
    SHA-256 : {{ a.sha256 }}
{% endfor %}
{{ t('proof.evidence_id') }} : {{ evidence_id }}
{% if previous %}{{ t('proof.previous') }} : {{ previous }}
{% endif %}

{{ t('proof.verify_title') }}
{{ '-' * t('proof.verify_title')|length }}

{{ t('proof.verify_intro') }}

{{ t('proof.verify_tool') }}

    lre-gateway verify evidence.xml evidence.xml.p7s

{{ t('proof.verify_openssl', url=anchors_url) }}

    openssl cms -verify -binary -inform DER -in evidence.xml.p7s -content evidence.xml \
-CAfile anchors.pem -purpose any

{{ t('proof.verify_note') }}
{% if log_url %}

{{ t('proof.log', url=log_url, evidence_id=evidence_id) }}
{% endif %}

{{ '-- ' }}
{{ provider }}
"""

CODE_TXT: Final = """\
{{ t('notice.greeting') }}

{{ t('codemail.intro', reference=reference) }}

    {{ code }}

{{ t('codemail.validity', minutes=minutes) }}
{{ t('codemail.warning') }}

{{ '-- ' }}
{{ t('notice.automatic', provider=provider) }}
"""

TEMPLATES: Final = {
    "code.txt": CODE_TXT,
    "notice_block.txt": NOTICE_BLOCK_TXT,
    "notice_block.html": NOTICE_BLOCK_HTML,
    "notification.txt": NOTIFICATION_TXT,
    "notification.html": NOTIFICATION_HTML,
    "proof.txt": PROOF_TXT,
}
