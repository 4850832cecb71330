"""Words of the PDF certificate and of the verification page, in French, English and Arabic.

Kept apart from gateway/i18n.py (whose proof.* and evidence.* keys are reused) so that the
certificate's wording lives in one place; every key exists in the three languages.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final
from zoneinfo import ZoneInfo

from gateway import i18n
from gateway.core import event_reasons
from gateway.core.evidence import EvidenceType
from gateway.pdf.identification import CodeCheck, recipient_steps, sender_method

UTC_ZONE: Final = ZoneInfo("UTC")

_FR: Final = {
    "pdf.heading": "Lettre recommandée électronique",
    "pdf.reference": "Référence de la lettre",
    "pdf.sender": "Expéditeur",
    "pdf.recipient": "Destinataire",
    "pdf.subject": "Objet",
    "pdf.sender_identified": "Identification de l'expéditeur",
    "pdf.recipient_identified": "Identification du destinataire",
    "pdf.parties": "Les parties",
    "pdf.dates": "Les dates",
    "pdf.message": "Message (tel que reçu)",
    "pdf.name": "Nom",
    "pdf.provider_title": "Le prestataire",
    "pdf.provider": "Prestataire",
    "pdf.policy": "Politique de preuve",
    "pdf.scan": "Scannez pour vérifier",
    "pdf.status_page": "Vérification en ligne",
    "pdf.log_proof": "Preuve d'inscription au journal",
    "pdf.verify_title": "Comment vérifier ce document",
    "pdf.verify_body": "Ce document est scellé électroniquement (PAdES) par {provider} et "
    "horodaté ; votre lecteur PDF affiche la signature. La preuve signée evidence.xml et son "
    "sceau evidence.xml.p7s sont joints au PDF. Pour vérifier : déposez ce fichier sur {url}, "
    "ou exécutez « lre-gateway verify proof.pdf » avec les certificats de confiance {anchors}.",
    "pdf.footer": "Preuve {id} — page {page}/{pages}",
    "pdf.auth.password": "mot de passe de son compte, saisi sur une connexion chiffrée ({tls})",
    "pdf.auth.dkim": "lettre reçue d'un serveur de messagerie, avec une signature électronique "
    "(DKIM) valide du domaine {domain}, celui de son adresse",
    "pdf.auth.spf": "lettre reçue d'un serveur de messagerie autorisé par le domaine {domain}, "
    "celui de son adresse (SPF et DMARC vérifiés)",
    "pdf.auth.relay": "lettre reçue par le relais de confiance {relay}, qui a vérifié "
    "l'authenticité du domaine {domain}",
    "pdf.auth.encrypted": " ; connexion chiffrée ({tls})",
    "pdf.auth.api_token": "jeton d'API personnel de son compte, présenté par son logiciel à "
    "l'interface de programmation (REST) de la passerelle",
    "pdf.auth.unknown": "méthode consignée dans la preuve scellée : « {how} »",
    "pdf.ident.code_sms": "code à usage unique envoyé par SMS au numéro {destination}, saisi sur "
    "la page du destinataire le {time}",
    "pdf.ident.code_email": "code à usage unique envoyé par courriel à l'adresse {destination}, "
    "saisi sur la page du destinataire le {time}",
    "pdf.ident.link_holder": "détenteur du lien personnel envoyé à l'adresse du destinataire",
    "pdf.ident.none": "adresse électronique uniquement (identité non vérifiée)",
    "pdf.ident.unknown": "vérification consignée dans la preuve scellée : « {how} »",
    "pdf.ident.join": " ; ",
    "pdf.declared_name": "Nom déclaré par l'expéditeur",
    "pdf.content": "Contenu déposé (tel que reçu)",
    "pdf.whole_message": "message complet",
    "pdf.size": "Taille",
    "pdf.continued": "suite",
    "pdf.failure_reply": "échec définitif signalé par le système distant ; sa réponse telle "
    "que reçue : « {reply} »",
    "pdf.reason.recipient_refused": "Le destinataire a refusé la lettre",
    "pdf.reason.acceptance_period_expired": "Le destinataire n'a ni accepté ni refusé la lettre "
    "avant la fin du délai d'acceptation",
    "pdf.reason.notification_undeliverable": "Le courriel de notification n'a pas pu être remis "
    "au destinataire",
    "pdf.reason.sms_notification_undeliverable": "Le SMS de notification n'a pas pu être remis "
    "au destinataire",
    "pdf.reason.unknown": "Motif consigné dans la preuve scellée : « {code} »",
    "pdf.reason.alone": "{reason}.",
    "pdf.reason.with_reply": "{reason} : {reply}",
}

_EN: Final = {
    "pdf.heading": "Electronic registered letter",
    "pdf.reference": "Letter reference",
    "pdf.sender": "Sender",
    "pdf.recipient": "Recipient",
    "pdf.subject": "Subject",
    "pdf.sender_identified": "Sender identified by",
    "pdf.recipient_identified": "Recipient identified by",
    "pdf.parties": "The parties",
    "pdf.dates": "The dates",
    "pdf.message": "Message (as received)",
    "pdf.name": "Name",
    "pdf.provider_title": "The provider",
    "pdf.provider": "Provider",
    "pdf.policy": "Evidence policy",
    "pdf.scan": "Scan to verify",
    "pdf.status_page": "Online verification",
    "pdf.log_proof": "Inclusion proof in the log",
    "pdf.verify_title": "How to verify this document",
    "pdf.verify_body": "This document is electronically sealed (PAdES) by {provider} and "
    "timestamped; your PDF reader shows the signature. The signed evidence evidence.xml and its "
    "seal evidence.xml.p7s are attached to the PDF. To verify: upload this file at {url}, or run "
    "\u201clre-gateway verify proof.pdf\u201d with the trust anchors {anchors}.",
    "pdf.footer": "Evidence {id} — page {page}/{pages}",
    "pdf.auth.password": "password of the sender's account, over an encrypted connection ({tls})",
    "pdf.auth.dkim": "letter received from a mail server with a valid electronic signature "
    "(DKIM) of the domain {domain}, that of the sender's address",
    "pdf.auth.spf": "letter received from a mail server authorised by the domain {domain}, that "
    "of the sender's address (SPF and DMARC checked)",
    "pdf.auth.relay": "letter received through the trusted relay {relay}, which checked the "
    "authenticity of the domain {domain}",
    "pdf.auth.encrypted": "; encrypted connection ({tls})",
    "pdf.auth.api_token": "the personal API token of the sender's account, presented by its "
    "software to the gateway's programming interface (REST API)",
    "pdf.auth.unknown": "method recorded in the sealed evidence: \u201c{how}\u201d",
    "pdf.ident.code_sms": "one-time code sent by text message to the number {destination}, "
    "entered on the recipient's page on {time}",
    "pdf.ident.code_email": "one-time code sent by email to the address {destination}, entered "
    "on the recipient's page on {time}",
    "pdf.ident.link_holder": "holder of the personal link sent to the recipient's address",
    "pdf.ident.none": "email address only (identity not verified)",
    "pdf.ident.unknown": "check recorded in the sealed evidence: \u201c{how}\u201d",
    "pdf.ident.join": "; ",
    "pdf.declared_name": "Name declared by the sender",
    "pdf.content": "Content deposited (as received)",
    "pdf.whole_message": "whole message",
    "pdf.size": "Size",
    "pdf.continued": "continued",
    "pdf.failure_reply": "permanent failure reported by the remote system; its reply as "
    "received: \u201c{reply}\u201d",
    "pdf.reason.recipient_refused": "The recipient refused the letter",
    "pdf.reason.acceptance_period_expired": "The recipient neither accepted nor refused the "
    "letter before the acceptance deadline",
    "pdf.reason.notification_undeliverable": "The notification email could not be delivered to "
    "the recipient",
    "pdf.reason.sms_notification_undeliverable": "The notification text message could not be "
    "delivered to the recipient",
    "pdf.reason.unknown": "Reason recorded in the sealed evidence: \u201c{code}\u201d",
    "pdf.reason.alone": "{reason}.",
    "pdf.reason.with_reply": "{reason}: {reply}",
}

_AR: Final = {
    "pdf.heading": "رسالة مضمونة إلكترونية",
    "pdf.reference": "مرجع الرسالة",
    "pdf.sender": "المرسِل",
    "pdf.recipient": "المرسَل إليه",
    "pdf.subject": "الموضوع",
    "pdf.sender_identified": "طريقة التعرّف على المرسِل",
    "pdf.recipient_identified": "طريقة التعرّف على المرسَل إليه",
    "pdf.parties": "الأطراف",
    "pdf.dates": "التواريخ",
    "pdf.message": "الرسالة (كما استُلمت)",
    "pdf.name": "الاسم",
    "pdf.provider_title": "مقدّم الخدمة",
    "pdf.provider": "مقدّم الخدمة",
    "pdf.policy": "سياسة الإثبات",
    "pdf.scan": "امسح الرمز للتحقق",
    "pdf.status_page": "التحقق عبر الإنترنت",
    "pdf.log_proof": "إثبات القيد في السجل العام",
    "pdf.verify_title": "كيفية التحقق من هذه الوثيقة",
    "pdf.verify_body": "هذه الوثيقة مختومة إلكترونيًا (PAdES) من طرف {provider} ومؤرَّخة؛ "
    "يعرض قارئ PDF التوقيع. الإثبات الموقَّع evidence.xml وختمه evidence.xml.p7s مرفقان بهذا "
    "الملف. للتحقق: ارفع هذا الملف على {url} أو نفّذ الأمر lre-gateway verify proof.pdf "
    "مع شهادات الثقة {anchors}.",
    "pdf.footer": "الإثبات {id} — الصفحة {page}/{pages}",
    "pdf.auth.password": "كلمة مرور حساب المرسِل، أُدخلت عبر اتصال مشفّر ({tls})",
    "pdf.auth.dkim": "رسالة واردة من خادم بريد بتوقيع إلكتروني صالح (DKIM) للنطاق {domain}، "
    "وهو نطاق عنوان المرسِل",
    "pdf.auth.spf": "رسالة واردة من خادم بريد مأذون له من النطاق {domain}، وهو نطاق عنوان "
    "المرسِل (تم التحقق من SPF وDMARC)",
    "pdf.auth.relay": "رسالة واردة عبر المُرحِّل الموثوق {relay}، الذي تحقّق من أصالة النطاق {domain}",
    "pdf.auth.encrypted": "؛ اتصال مشفّر ({tls})",
    "pdf.auth.api_token": "رمز الواجهة البرمجية الشخصي لحساب المرسِل، قدّمه برنامجه إلى "
    "الواجهة البرمجية (REST) للبوابة",
    "pdf.auth.unknown": "الطريقة المسجّلة في الإثبات المختوم: {how}",
    "pdf.ident.code_sms": "رمز يُستعمل مرة واحدة أُرسل برسالة نصية قصيرة إلى الرقم {destination}، "
    "وأُدخل في صفحة المرسَل إليه بتاريخ {time}",
    "pdf.ident.code_email": "رمز يُستعمل مرة واحدة أُرسل بالبريد الإلكتروني إلى العنوان "
    "{destination}، وأُدخل في صفحة المرسَل إليه بتاريخ {time}",
    "pdf.ident.link_holder": "حائز الرابط الشخصي المرسَل إلى عنوان المرسَل إليه",
    "pdf.ident.none": "عنوان البريد الإلكتروني فقط (لم يُتحقَّق من الهوية)",
    "pdf.ident.unknown": "التحقق المسجّل في الإثبات المختوم: {how}",
    "pdf.ident.join": "؛ ",
    "pdf.declared_name": "الاسم الذي صرّح به المرسِل",
    "pdf.content": "المحتوى المودَع (كما استُلم)",
    "pdf.whole_message": "الرسالة كاملة",
    "pdf.size": "الحجم",
    "pdf.continued": "تابع",
    "pdf.failure_reply": "إخفاق نهائي أبلغ عنه النظام البعيد؛ ردّه كما ورد: {reply}",
    "pdf.reason.recipient_refused": "رفض المرسَل إليه الرسالة",
    "pdf.reason.acceptance_period_expired": "لم يقبل المرسَل إليه الرسالة ولم يرفضها قبل انتهاء "
    "أجل القبول",
    "pdf.reason.notification_undeliverable": "تعذّر تسليم رسالة الإشعار الإلكترونية إلى المرسَل إليه",
    "pdf.reason.sms_notification_undeliverable": "تعذّر تسليم رسالة الإشعار النصية القصيرة إلى "
    "المرسَل إليه",
    "pdf.reason.unknown": "السبب المسجّل في الإثبات المختوم: {code}",
    "pdf.reason.alone": "{reason}.",
    "pdf.reason.with_reply": "{reason}: {reply}",
}

CATALOGUES: Final[dict[str, dict[str, str]]] = {"fr": _FR, "en": _EN, "ar": _AR}


def text(lang: str, key: str, **params: object) -> str:
    """A certificate word in `lang`, falling back to gateway.i18n for the shared keys."""
    catalogue = CATALOGUES.get(lang, _FR)
    if key in catalogue:
        value = catalogue[key]
        return value.format(**params) if params else value
    return i18n.gettext(lang, key, **params)


def isolate(lang: str, value: str) -> str:
    """A left-to-right value (address, URL, number) kept whole inside an Arabic sentence.

    Unicode isolates (LRI … PDI) make the bidi algorithm lay the value out on its own, so a
    trailing "/" or "." stays with it and the sentence's punctuation stays on the right side.
    """
    return f"\u2066{value}\u2069" if i18n.direction(lang) == "rtl" else value


_REASON_KEYS: Final = {
    event_reasons.RECIPIENT_REFUSED: "pdf.reason.recipient_refused",
    event_reasons.ACCEPTANCE_PERIOD_EXPIRED: "pdf.reason.acceptance_period_expired",
    event_reasons.NOTIFICATION_UNDELIVERABLE: "pdf.reason.notification_undeliverable",
    event_reasons.SMS_NOTIFICATION_UNDELIVERABLE: "pdf.reason.sms_notification_undeliverable",
}


def event_reason(
    lang: str, event: EvidenceType, code: str | None, diagnostic: str | None
) -> str | None:
    """Why a negative event happened, in `lang` (None when the record gives no reason).

    The reason code's sentence in `lang` (an unknown code is named as such and quoted), then,
    for a non-delivery, the remote system's reply quoted as received (often English).
    Records made before reason codes carry only the diagnostic, shown as before.
    """
    reply = diagnostic
    if diagnostic and event is EvidenceType.NotificationForAcceptanceFailure:
        reply = text(lang, "pdf.failure_reply", reply=isolate(lang, diagnostic))
    key = _REASON_KEYS.get(code or "")
    if key:
        reason = text(lang, key)
        if not reply:
            return text(lang, "pdf.reason.alone", reason=reason)
        return text(lang, "pdf.reason.with_reply", reason=reason, reply=reply)
    if code:
        reason = text(lang, "pdf.reason.unknown", code=isolate(lang, code))
        return text(lang, "pdf.reason.with_reply", reason=reason, reply=reply) if reply else reason
    return reply


def unbroken(value: str) -> str:
    """A phone number or masked value that never breaks across lines (no-break spaces)."""
    return value.replace(" ", "\u00a0")


def sender_identification(lang: str, how: str) -> str:
    """How the sender was authenticated, in the certificate's language (never the raw sentence
    alone: an unknown shape is named as such and quoted)."""
    method = sender_method(how)
    if method.kind == "password":
        return text(lang, "pdf.auth.password", tls=isolate(lang, unbroken(method.tls)))
    if method.kind == "unknown":
        return text(lang, "pdf.auth.unknown", how=isolate(lang, method.raw))
    if method.kind == "api_token":
        words = text(lang, "pdf.auth.api_token")
        if method.tls:
            words += text(lang, "pdf.auth.encrypted", tls=isolate(lang, method.tls))
        return words
    key = "pdf.auth.relay" if method.kind.startswith("relay_") else f"pdf.auth.{method.kind}"
    words = text(lang, key, domain=isolate(lang, method.domain), relay=isolate(lang, method.relay))
    if method.tls:
        words += text(lang, "pdf.auth.encrypted", tls=isolate(lang, unbroken(method.tls)))
    return words


def recipient_identification(
    lang: str,
    how: str,
    extensions: Iterable[tuple[str, str]] = (),
    zone: ZoneInfo = UTC_ZONE,
) -> str:
    """How the recipient was identified, in the certificate's language, times in `zone`."""
    words = []
    for step in recipient_steps(how, extensions):
        if isinstance(step, CodeCheck):
            words.append(
                text(
                    lang,
                    f"pdf.ident.code_{step.channel}",
                    destination=isolate(lang, unbroken(step.destination)),
                    time=isolate(lang, i18n.format_time(step.checked_at, lang, zone)),
                )
            )
        elif isinstance(step, tuple):
            words.append(text(lang, "pdf.ident.unknown", how=isolate(lang, step[1])))
        else:
            words.append(text(lang, f"pdf.ident.{step}"))
    return text(lang, "pdf.ident.join").join(words)
