"""Words of the sender's portal (3 languages), merged into gateway.i18n's catalogues by install().

States are named from the sender's side ("Accepted by the recipient"), not the recipient's
("Awaiting your decision") as on the letter page.
"""

from __future__ import annotations

from typing import Final

from gateway import i18n

TEXTS: Final[dict[str, dict[str, str]]] = {
    "fr": {
        "portal.title": "Espace expéditeur",
        "portal.signin.title": "Connexion à l'espace expéditeur",
        "portal.signin.intro": "Suivez vos lettres recommandées et téléchargez leurs preuves. "
        "Connectez-vous avec l'adresse et le mot de passe de votre compte d'envoi.",
        "portal.email": "Adresse électronique",
        "portal.password": "Mot de passe",
        "portal.signin.button": "Se connecter",
        "portal.signin.wrong": "Adresse ou mot de passe incorrect.",
        "portal.signin.throttled": "Trop d'essais de connexion. Réessayez dans {minutes} min.",
        "portal.signout": "Se déconnecter",
        "portal.signed_in_as": "Connecté : {email}",
        "portal.letters.title": "Lettres envoyées",
        "portal.search.label": "Référence ou destinataire",
        "portal.search.state": "État",
        "portal.search.button": "Rechercher",
        "portal.state.any": "Tous les états",
        "portal.state.deposited": "Déposée",
        "portal.state.notified": "Notifiée, en attente",
        "portal.state.accepted": "Acceptée",
        "portal.state.handed_over": "Acceptée et téléchargée",
        "portal.state.refused": "Refusée",
        "portal.state.neglected": "Délai expiré",
        "portal.state.undeliverable": "Non distribuée",
        "portal.col.reference": "Référence",
        "portal.col.subject": "Objet",
        "portal.col.deposited": "Déposée le",
        "portal.col.recipients": "Destinataires",
        "portal.none": "Aucune lettre ne correspond.",
        "portal.previous": "Page précédente",
        "portal.next": "Page suivante",
        "portal.export": "Exporter en CSV",
        "portal.letter.recipient": "Destinataire",
        "portal.letter.events": "Événements",
        "portal.letter.proofs": "Preuves",
        "portal.letter.sealing": "scellement en cours",
        "portal.back": "Toutes les lettres",
        "portal.csrf.title": "Formulaire expiré",
        "portal.csrf": "Pour votre sécurité, ce formulaire a expiré ou ne provient pas de ce "
        "site. Rouvrez l'espace expéditeur et recommencez.",
    },
    "en": {
        "portal.title": "Sender's portal",
        "portal.signin.title": "Sign in to the sender's portal",
        "portal.signin.intro": "Follow your registered letters and download their proofs. "
        "Sign in with the address and password of your sending account.",
        "portal.email": "Email address",
        "portal.password": "Password",
        "portal.signin.button": "Sign in",
        "portal.signin.wrong": "Wrong address or password.",
        "portal.signin.throttled": "Too many sign-in attempts. Try again in {minutes} min.",
        "portal.signout": "Sign out",
        "portal.signed_in_as": "Signed in: {email}",
        "portal.letters.title": "Letters sent",
        "portal.search.label": "Reference or recipient",
        "portal.search.state": "State",
        "portal.search.button": "Search",
        "portal.state.any": "All states",
        "portal.state.deposited": "Deposited",
        "portal.state.notified": "Notified, awaiting decision",
        "portal.state.accepted": "Accepted",
        "portal.state.handed_over": "Accepted and downloaded",
        "portal.state.refused": "Refused",
        "portal.state.neglected": "Deadline passed",
        "portal.state.undeliverable": "Not delivered",
        "portal.col.reference": "Reference",
        "portal.col.subject": "Subject",
        "portal.col.deposited": "Deposited",
        "portal.col.recipients": "Recipients",
        "portal.none": "No letter matches.",
        "portal.previous": "Previous page",
        "portal.next": "Next page",
        "portal.export": "Export as CSV",
        "portal.letter.recipient": "Recipient",
        "portal.letter.events": "Events",
        "portal.letter.proofs": "Proofs",
        "portal.letter.sealing": "being sealed",
        "portal.back": "All letters",
        "portal.csrf.title": "Form expired",
        "portal.csrf": "For your security, this form has expired or did not come from this "
        "site. Open the sender's portal again and retry.",
    },
    "ar": {
        "portal.title": "فضاء المرسِل",
        "portal.signin.title": "الدخول إلى فضاء المرسِل",
        "portal.signin.intro": "تابع رسائلك المضمونة وحمّل إثباتاتها. سجّل الدخول بعنوان حساب "
        "الإرسال وكلمة مروره.",
        "portal.email": "عنوان البريد الإلكتروني",
        "portal.password": "كلمة المرور",
        "portal.signin.button": "تسجيل الدخول",
        "portal.signin.wrong": "العنوان أو كلمة المرور غير صحيحة.",
        "portal.signin.throttled": "محاولات دخول كثيرة. أعد المحاولة بعد {minutes} دقيقة.",
        "portal.signout": "تسجيل الخروج",
        "portal.signed_in_as": "متصل: {email}",
        "portal.letters.title": "الرسائل المرسلة",
        "portal.search.label": "المرجع أو المرسَل إليه",
        "portal.search.state": "الحالة",
        "portal.search.button": "بحث",
        "portal.state.any": "كل الحالات",
        "portal.state.deposited": "مودعة",
        "portal.state.notified": "مُبلَّغة، في انتظار القرار",
        "portal.state.accepted": "مقبولة",
        "portal.state.handed_over": "مقبولة ومُنزَّلة",
        "portal.state.refused": "مرفوضة",
        "portal.state.neglected": "انقضى الأجل",
        "portal.state.undeliverable": "لم تُسلَّم",
        "portal.col.reference": "المرجع",
        "portal.col.subject": "الموضوع",
        "portal.col.deposited": "تاريخ الإيداع",
        "portal.col.recipients": "المرسَل إليهم",
        "portal.none": "لا توجد رسالة مطابقة.",
        "portal.previous": "الصفحة السابقة",
        "portal.next": "الصفحة التالية",
        "portal.export": "تصدير بصيغة CSV",
        "portal.letter.recipient": "المرسَل إليه",
        "portal.letter.events": "الأحداث",
        "portal.letter.proofs": "الإثباتات",
        "portal.letter.sealing": "قيد الختم",
        "portal.back": "كل الرسائل",
        "portal.csrf.title": "انتهت صلاحية الاستمارة",
        "portal.csrf": "حفاظًا على أمانك، انتهت صلاحية هذه الاستمارة أو أنها لم تصدر عن هذا "
        "الموقع. افتح فضاء المرسِل من جديد وأعد المحاولة.",
    },
}


def install() -> None:
    """Add these texts to the site's catalogues (idempotent; existing keys are kept)."""
    for lang, texts in TEXTS.items():
        catalogue = i18n.CATALOGUES[lang]
        for key, text in texts.items():
            catalogue.setdefault(key, text)
