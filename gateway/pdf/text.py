"""Words of the PDF certificate and of the verification page, in French, English and Arabic.

Kept apart from gateway/i18n.py (whose proof.* and evidence.* keys are reused) so that the
certificate's wording lives in one place; every key exists in the three languages.
"""

from __future__ import annotations

from typing import Final

from gateway import i18n

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
    "pdf.verify_title": "Comment vérifier ce document",
    "pdf.verify_body": "Ce document est scellé électroniquement (PAdES) par {provider} et "
    "horodaté ; votre lecteur PDF affiche la signature. La preuve signée evidence.xml et son "
    "sceau evidence.xml.p7s sont joints au PDF. Pour vérifier : déposez ce fichier sur {url}, "
    "ou exécutez « lre-gateway verify proof.pdf » avec les certificats de confiance {anchors}.",
    "pdf.footer": "Preuve {id} — page {page}/{pages}",
    "pdf.auth.password_tls": "compte authentifié par mot de passe sur connexion chiffrée ({how})",
    "pdf.auth.other": "{how}",
    "pdf.ident.none": "adresse électronique uniquement (identité non vérifiée)",
    "pdf.ident.other": "{how}",
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
    "pdf.verify_title": "How to verify this document",
    "pdf.verify_body": "This document is electronically sealed (PAdES) by {provider} and "
    "timestamped; your PDF reader shows the signature. The signed evidence evidence.xml and its "
    "seal evidence.xml.p7s are attached to the PDF. To verify: upload this file at {url}, or run "
    "\u201clre-gateway verify proof.pdf\u201d with the trust anchors {anchors}.",
    "pdf.footer": "Evidence {id} — page {page}/{pages}",
    "pdf.auth.password_tls": "account authenticated by password over an encrypted connection "
    "({how})",
    "pdf.auth.other": "{how}",
    "pdf.ident.none": "email address only (identity not verified)",
    "pdf.ident.other": "{how}",
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
    "pdf.verify_title": "كيفية التحقق من هذه الوثيقة",
    "pdf.verify_body": "هذه الوثيقة مختومة إلكترونيًا (PAdES) من طرف {provider} ومؤرَّخة؛ "
    "يعرض قارئ PDF التوقيع. الإثبات الموقَّع evidence.xml وختمه evidence.xml.p7s مرفقان بهذا "
    "الملف. للتحقق: ارفع هذا الملف على {url} أو نفّذ الأمر lre-gateway verify proof.pdf "
    "مع شهادات الثقة {anchors}.",
    "pdf.footer": "الإثبات {id} — الصفحة {page}/{pages}",
    "pdf.auth.password_tls": "حساب موثَّق بكلمة مرور عبر اتصال مشفّر ({how})",
    "pdf.auth.other": "{how}",
    "pdf.ident.none": "عنوان البريد الإلكتروني فقط (لم يُتحقَّق من الهوية)",
    "pdf.ident.other": "{how}",
}

CATALOGUES: Final[dict[str, dict[str, str]]] = {"fr": _FR, "en": _EN, "ar": _AR}


def text(lang: str, key: str, **params: object) -> str:
    """A certificate word in `lang`, falling back to gateway.i18n for the shared keys."""
    catalogue = CATALOGUES.get(lang, _FR)
    if key in catalogue:
        value = catalogue[key]
        return value.format(**params) if params else value
    return i18n.gettext(lang, key, **params)


def sender_identification(lang: str, how: str) -> str:
    if how.startswith("smtp-auth") and ("tls" in how):
        return text(lang, "pdf.auth.password_tls", how=how)
    return text(lang, "pdf.auth.other", how=how)


def recipient_identification(lang: str, how: str) -> str:
    if how == "none":
        return text(lang, "pdf.ident.none")
    return text(lang, "pdf.ident.other", how=how)
