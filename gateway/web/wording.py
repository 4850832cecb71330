"""Words of the recipient's pages about content sessions, scanners and guessing (3 languages).

Kept apart from gateway.i18n's catalogues and merged into them by `install()` (called when the
web pages are loaded), so the keys of this area stay in one place.
"""

from __future__ import annotations

from typing import Final

from gateway import i18n

TEXTS: Final[dict[str, dict[str, str]]] = {
    "fr": {
        "code.press_send": "Aucun code n'a été envoyé. Pour en recevoir un, appuyez sur "
        "« Envoyez-moi un code ».",
        "open.title": "Ouvrir la lettre dans ce navigateur",
        "open.explain": "Vous avez accepté cette lettre. Son contenu ne s'ouvre que dans le "
        "navigateur où le code a été saisi, pendant 30 minutes. Demandez un nouveau code pour "
        "ouvrir la lettre ici : aucune nouvelle décision n'est enregistrée.",
        "open.button": "Ouvrir la lettre",
        "open.explain_sms": "Le code est envoyé par SMS au {to}.",
        "open.explain_email": "Le code est envoyé par courriel à {to}.",
        "error.session.title": "Nouveau code nécessaire",
        "error.session": "Le contenu de cette lettre ne s'ouvre que dans le navigateur où le code "
        "a été saisi. Revenez à la lettre et demandez un nouveau code pour l'ouvrir.",
        "error.guess.title": "Trop de liens inconnus",
        "error.guess": "Trop de liens inconnus ont été demandés depuis votre adresse. "
        "Réessayez plus tard avec le lien complet du courriel de notification.",
    },
    "en": {
        "code.press_send": "No code was sent. To receive one, press “Send me a code”.",
        "open.title": "Open the letter in this browser",
        "open.explain": "You accepted this letter. Its content opens only in the browser where "
        "the code was entered, for 30 minutes. Ask for a new code to open the letter here: no "
        "new decision is recorded.",
        "open.button": "Open the letter",
        "open.explain_sms": "The code is sent by SMS to {to}.",
        "open.explain_email": "The code is sent by email to {to}.",
        "error.session.title": "New code needed",
        "error.session": "The content of this letter opens only in the browser where the code "
        "was entered. Go back to the letter and ask for a new code to open it.",
        "error.guess.title": "Too many unknown links",
        "error.guess": "Too many unknown links were asked for from your address. Try again "
        "later with the complete link from the notification email.",
    },
    "ar": {
        "code.press_send": "لم يُرسَل أي رمز. لتلقي رمز، اضغط على «أرسلوا إليّ رمزًا».",
        "open.title": "فتح الرسالة في هذا المتصفح",
        "open.explain": "لقد قبلت هذه الرسالة. لا يُفتح محتواها إلا في المتصفح الذي أُدخل فيه "
        "الرمز، لمدة 30 دقيقة. اطلب رمزًا جديدًا لفتح الرسالة هنا: لن يُسجَّل أي قرار جديد.",
        "open.button": "فتح الرسالة",
        "open.explain_sms": "يُرسَل الرمز برسالة قصيرة إلى {to}.",
        "open.explain_email": "يُرسَل الرمز بالبريد الإلكتروني إلى {to}.",
        "error.session.title": "يلزم رمز جديد",
        "error.session": "لا يُفتح محتوى هذه الرسالة إلا في المتصفح الذي أُدخل فيه الرمز. "
        "عد إلى الرسالة واطلب رمزًا جديدًا لفتحها.",
        "error.guess.title": "روابط مجهولة كثيرة جدًا",
        "error.guess": "طُلبت روابط مجهولة كثيرة جدًا من عنوانك. أعد المحاولة لاحقًا بالرابط "
        "الكامل الوارد في رسالة الإشعار.",
    },
}


def install() -> None:
    """Add these texts to the site's catalogues (idempotent; existing keys are kept)."""
    for lang, texts in TEXTS.items():
        catalogue = i18n.CATALOGUES[lang]
        for key, text in texts.items():
            catalogue.setdefault(key, text)
