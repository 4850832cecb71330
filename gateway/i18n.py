"""The site's languages: negotiation, text direction, message catalogues and time formatting.

French is the default language; English and Arabic (right-to-left) are the others. Every key is
present in each catalogue (tests/unit/test_i18n.py checks it). Catalogue strings are plain text:
HTML templates escape them like any other value.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, Literal
from zoneinfo import ZoneInfo

from gateway.core.evidence import EvidenceType

LANGUAGES: Final = ("fr", "en", "ar")
DEFAULT: Final = "fr"
RTL: Final = frozenset({"ar"})
LANGUAGE_NAMES: Final = {"fr": "Français", "en": "English", "ar": "العربية"}

_FR: Final[dict[str, str]] = {
    "site.name": "Lettre recommandée électronique",
    "site.footer": "{provider} — lettre recommandée électronique. "
    "Chaque événement donne lieu à une preuve signée et horodatée.",
    "site.language": "Langue",
    "landing.title": "La lettre recommandée, en version électronique",
    "landing.intro": "Ce service remplace le courrier recommandé postal. L'expéditeur dépose sa "
    "lettre, le prestataire la certifie et la conserve, puis le destinataire reçoit un courriel "
    "avec un lien pour l'accepter ou la refuser.",
    "landing.recipient_title": "Vous avez reçu une notification ?",
    "landing.recipient_body": "Ouvrez le lien de votre courriel de notification. Vous pouvez "
    "accepter ou refuser la lettre jusqu'à la date limite indiquée. Son contenu ne vous est remis "
    "qu'après acceptation, et votre choix est communiqué à l'expéditeur sous forme de preuve.",
    "landing.sender_title": "Vous envoyez une lettre ?",
    "landing.sender_body": "Envoyez-la par courriel depuis votre compte expéditeur. Vous recevez "
    "une preuve de dépôt, puis un accusé de réception si le destinataire l'accepte, une preuve de "
    "refus s'il la refuse, ou une preuve de négligence s'il ne répond pas dans le délai.",
    "landing.proofs_title": "Des preuves vérifiables par tous",
    "landing.proofs_body": "Chaque preuve est un fichier XML signé et horodaté. Elle se vérifie "
    "sans nous, avec les certificats de confiance publiés ici :",
    "landing.anchors_link": "certificats de confiance (anchors.pem)",
    "field.reference": "Référence",
    "field.recipient": "Destinataire",
    "field.sender": "Expéditeur",
    "field.declared_name": "Nom indiqué par l'expéditeur (non vérifié)",
    "zone.Africa/Casablanca": "heure du Maroc",
    "field.subject": "Objet",
    "field.deposited": "Déposée le",
    "field.deadline": "À accepter ou refuser avant le",
    "field.status": "État",
    "state.deposited": "En attente de votre décision",
    "state.notified": "En attente de votre décision",
    "state.accepted": "Acceptée",
    "state.handed_over": "Acceptée",
    "state.refused": "Refusée",
    "state.neglected": "Délai expiré",
    "state.undeliverable": "Non distribuée",
    "letter.title": "Une lettre recommandée électronique vous attend",
    "letter.sender_hidden": "L'expéditeur et l'objet vous seront communiqués si vous acceptez "
    "la lettre.",
    "letter.accept_explain": "Si vous acceptez, le contenu de la lettre vous est remis "
    "immédiatement et l'expéditeur reçoit un accusé de réception.",
    "letter.refuse_explain": "Si vous refusez, vous ne verrez pas le contenu et l'expéditeur "
    "reçoit une preuve de refus.",
    "letter.neglect_explain": "Sans réponse avant la date limite, la lettre est considérée comme "
    "négligée et l'expéditeur reçoit une preuve de négligence.",
    "letter.final": "Votre choix est définitif et il est enregistré.",
    "button.accept": "Accepter",
    "button.refuse": "Refuser",
    "letter.accepted_title": "Lettre acceptée",
    "letter.accepted_on": "Vous avez accepté cette lettre le {time}.",
    "letter.content_title": "Contenu de la lettre",
    "letter.no_text": "Cette lettre ne contient pas de texte lisible ici ; ouvrez le message "
    "original ou les pièces jointes.",
    "letter.attachments_title": "Pièces jointes",
    "letter.no_attachments": "Aucune pièce jointe.",
    "letter.original_title": "Message original",
    "letter.download_original": "Télécharger le message original (.eml)",
    "letter.original_explain": "Le message original est identique, octet pour octet, à celui "
    "déposé par l'expéditeur.",
    "letter.refused_title": "Lettre refusée",
    "letter.refused_on": "Vous avez refusé cette lettre le {time}.",
    "letter.refused_note": "Son contenu ne vous sera pas communiqué. L'expéditeur a reçu une "
    "preuve de refus.",
    "letter.neglected_title": "Délai expiré",
    "letter.neglected": "Le délai pour accepter ou refuser cette lettre a expiré le {time}. La "
    "lettre est considérée comme négligée et son contenu ne peut plus vous être communiqué.",
    "letter.undeliverable_title": "Lettre non distribuée",
    "letter.undeliverable": "La notification de cette lettre n'a pas pu vous être remise ; "
    "la lettre n'a pas été distribuée et son contenu ne peut pas être consulté ici. Contactez "
    "l'expéditeur si nécessaire.",
    "size.bytes": "{n} octets",
    "size.kb": "{n} Ko",
    "size.mb": "{n} Mo",
    "error.title": "Erreur {status}",
    "error.400": "La requête n'est pas valide.",
    "error.403": "Le contenu de cette lettre n'est remis qu'après son acceptation.",
    "error.403.title": "Contenu non disponible",
    "error.404": "Ce lien ne correspond à aucune lettre ni à aucune page. Vérifiez qu'il est "
    "complet : copiez-le entièrement depuis le courriel de notification.",
    "error.404.title": "Lien inconnu",
    "error.405": "Cette adresse n'accepte pas ce type de requête.",
    "error.405.title": "Requête non autorisée",
    "error.409": "Une décision a déjà été enregistrée pour cette lettre ; elle ne peut plus être "
    "modifiée.",
    "error.409.title": "Décision déjà enregistrée",
    "error.410": "Le délai pour accepter ou refuser cette lettre est dépassé. La lettre est "
    "considérée comme négligée.",
    "error.410.title": "Délai expiré",
    "error.413": "La requête est trop volumineuse.",
    "error.415": "Ce type de contenu n'est pas accepté ici.",
    "error.500": "Une erreur inattendue s'est produite de notre côté. Rien n'a été perdu : "
    "réessayez dans un instant.",
    "error.500.title": "Erreur inattendue",
    "error.csrf.title": "Formulaire expiré",
    "error.csrf": "Pour votre sécurité, ce formulaire a expiré ou ne provient pas de ce site. "
    "Rouvrez la page de la lettre et recommencez. Rien n'a été enregistré.",
    "error.back_to_letter": "Revenir à la lettre",
    "error.home": "Accueil",
    "outbox.title": "Boîte d'envoi (développement)",
    "outbox.explain": "Mode développement : les courriels de la passerelle ne sont pas envoyés "
    "mais déposés ici.",
    "outbox.empty": "Aucun courriel pour l'instant.",
    "outbox.to": "À",
    "outbox.from": "De",
    "outbox.subject": "Sujet",
    "outbox.date": "Date",
    "outbox.size": "Taille",
    "outbox.raw": "Télécharger le message brut",
    "outbox.back": "Retour à la boîte d'envoi",
    "outbox.no_text": "Ce message n'a pas de partie texte.",
    "notice.subject": "Lettre recommandée électronique en attente",
    "notice.greeting": "Bonjour,",
    "notice.intro": "Une lettre recommandée électronique vous attend.",
    "notice.sender_hidden": "L'expéditeur et l'objet vous seront communiqués si vous acceptez "
    "la lettre.",
    "notice.deadline": "Vous pouvez l'accepter ou la refuser jusqu'au {time}.",
    "notice.action": "Pour l'accepter ou la refuser, ouvrez ce lien :",
    "notice.button": "Accepter ou refuser la lettre",
    "notice.copy_link": "Si le bouton ne fonctionne pas, copiez cette adresse dans votre "
    "navigateur :",
    "notice.content_note": "Le contenu de la lettre ne vous est remis qu'après acceptation.",
    "notice.recorded_note": "Votre acceptation ou votre refus est enregistré et l'expéditeur en "
    "reçoit une preuve. Sans réponse avant la date limite, la lettre est considérée comme "
    "négligée.",
    "notice.automatic": "Ce message est envoyé automatiquement par {provider} ; merci de ne pas "
    "y répondre.",
    "notice.summary": "A registered electronic letter is waiting for you. Open the link above to "
    "accept or refuse it before {time}.",
    "proof.subject": "{title} — {reference} — {recipient}",
    "proof.intro": "{provider} vous adresse la preuve suivante pour votre lettre recommandée "
    "électronique.",
    "proof.type": "Type de preuve",
    "proof.what": "Événement",
    "proof.deposited": "Dépôt",
    "proof.event_time": "Date de l'événement",
    "proof.deadline": "Date limite d'acceptation",
    "proof.reason": "Motif",
    "proof.message_title": "Message déposé",
    "proof.sha256": "SHA-256 du message (tel que reçu)",
    "proof.size": "Taille",
    "proof.attachments": "Pièces jointes",
    "proof.no_attachments": "aucune",
    "proof.evidence_id": "Identifiant de la preuve",
    "proof.previous": "Preuve précédente (SHA-256)",
    "proof.verify_title": "Comment vérifier cette preuve",
    "proof.verify_intro": "Les fichiers joints evidence.xml (la preuve) et evidence.xml.p7s (sa "
    "signature CMS, horodatée selon la RFC 3161) suffisent : conservez-les ensemble.",
    "proof.verify_tool": "Avec l'outil de la passerelle :",
    "proof.verify_openssl": "Ou avec OpenSSL seul, après avoir téléchargé les certificats de "
    "confiance depuis {url} :",
    "proof.verify_note": "Seul le fichier evidence.xml signé fait foi ; ce texte n'en est qu'un "
    "résumé lisible.",
    "proof.log": "Cette preuve est inscrite au journal public des preuves de la passerelle, "
    "que personne ne peut réécrire sans que cela se voie. Sa preuve d'inclusion (à enregistrer "
    "à côté de la preuve sous le nom {evidence_id}.log.json) : {url}",
    "event.SubmissionAcceptance": "Votre lettre a été déposée et certifiée le {time}. Le "
    "destinataire reçoit une notification et peut l'accepter ou la refuser jusqu'à la date limite.",
    "event.NotificationForAcceptance": "La notification a été remise au serveur de messagerie du "
    "destinataire le {time}.",
    "event.NotificationForAcceptanceFailure": "La notification n'a pas pu être remise au "
    "destinataire : la lettre n'a pas été distribuée.",
    "event.ConsignmentAcceptance": "Le destinataire a accepté la lettre le {time} ; son contenu "
    "lui est désormais accessible.",
    "event.ConsignmentRejection": "Le destinataire a refusé la lettre le {time} ; son contenu ne "
    "lui a pas été communiqué.",
    "event.AcceptanceRejectionExpiry": "Le destinataire n'a ni accepté ni refusé la lettre avant "
    "la date limite : elle est considérée comme négligée et son contenu ne lui a pas été "
    "communiqué.",
    "event.ContentHandover": "Le destinataire a téléchargé le contenu de la lettre le {time}.",
    "evidence.SubmissionAcceptance": "Preuve de dépôt",
    "evidence.NotificationForAcceptance": "Preuve de notification",
    "evidence.NotificationForAcceptanceFailure": "Preuve de non-distribution",
    "evidence.ConsignmentAcceptance": "Accusé de réception",
    "evidence.ConsignmentRejection": "Preuve de refus",
    "evidence.AcceptanceRejectionExpiry": "Preuve de négligence",
    "evidence.ContentHandover": "Preuve de remise du contenu",
    "evidence.ContentPurged": "Attestation d'effacement en fin de conservation",
    # public verification page (/verify) and trust anchors (/pki/)
    "verify.title": "Vérifier une preuve",
    "verify.intro": "Déposez une preuve délivrée par ce prestataire : le certificat PDF "
    "(proof.pdf), le courriel de preuve (.eml), ou le fichier evidence.xml avec son sceau "
    "evidence.xml.p7s. Vous saurez si elle est authentique et intacte, et ce qu'elle atteste.",
    "verify.files_label": "Fichiers de la preuve",
    "verify.files_help": "{max} au plus. Les fichiers sont vérifiés puis oubliés : rien n'est "
    "conservé.",
    "verify.submit": "Vérifier",
    "verify.offline": "La vérification peut aussi se faire sans nous, avec la commande « "
    "lre-gateway verify » ou pyHanko et OpenSSL, grâce aux",
    "verify.again": "Vérifier une autre preuve",
    "verify.valid_all": "Preuve valide",
    "verify.invalid_all": "Preuve NON valide",
    "verify.valid": "Valide",
    "verify.invalid": "Non valide",
    "verify.valid_explain": "Chaque partie est intacte, scellée par ce prestataire et "
    "horodatée. Son contenu est décrit ci-dessous.",
    "verify.invalid_explain": "Au moins une partie n'a pas pu être confirmée. Ne vous fiez pas "
    "à ce document ; la raison est indiquée ci-dessous.",
    "verify.kind.evidence": "Preuve signée (evidence.xml)",
    "verify.kind.pdf": "Certificat PDF",
    "verify.kind.smime": "Signature du courriel de preuve (S/MIME)",
    "verify.reason.unsigned": "Ce fichier n'est pas signé.",
    "verify.reason.unknown_file": "Ce fichier n'est pas une preuve reconnue (PDF, courriel "
    ".eml, ou evidence.xml avec son .p7s).",
    "verify.reason.missing": "Une partie de la preuve manque.",
    "verify.reason.modified": "Le fichier a été modifié après avoir été scellé.",
    "verify.reason.damaged": "Le fichier est endommagé ou illisible.",
    "verify.reason.expired": "Un certificat n'était pas valide au moment du sceau.",
    "verify.reason.untrusted": "Le sceau ne provient pas d'une autorité de confiance de ce "
    "prestataire.",
    "verify.reason.timestamp": "L'horodatage manque ou n'est pas valide.",
    "verify.reason.other": "La preuve n'a pas pu être confirmée.",
    "verify.not_certified": "Attention : ce qui suit n'est PAS certifié par un sceau valide.",
    "verify.says": "Ce que la preuve atteste",
    "verify.event_time": "Date de l'événement",
    "verify.reason": "Motif",
    "verify.message_sha256": "Empreinte SHA-256 du message",
    "verify.event_uri": "Événement ETSI EN 319 522",
    "verify.message_id": "Identifiant du message (Message-ID)",
    "verify.declared_name": "Nom déclaré par l'expéditeur (non vérifié)",
    "verify.identification": "Identification du destinataire",
    "verify.reason_code": "Code du motif",
    "verify.attachments": "Pièces jointes",
    "verify.no_attachments": "Aucune",
    "verify.sealed_by": "Scellée par",
    "verify.timestamp": "Horodatage",
    "verify.archived": "Horodatages d'archivage",
    "verify.archived_count": "{n}, le plus récent :",
    "verify.evidence_id": "Identifiant de la preuve",
    "verify.no_file": "Choisissez au moins un fichier à vérifier.",
    "verify.bad_form.title": "Envoi illisible",
    "verify.bad_form": "Le formulaire envoyé n'a pas pu être lu. Revenez à la page de "
    "vérification et choisissez à nouveau vos fichiers.",
    "verify.too_large.title": "Fichiers trop volumineux",
    "verify.too_large": "Les fichiers envoyés dépassent la taille autorisée. Une preuve (PDF ou "
    "courriel) pèse quelques centaines de Ko : vérifiez que vous avez choisi le bon fichier.",
    "verify.unknown.title": "Preuve inconnue",
    "verify.unknown": "Aucune preuve de ce prestataire ne porte cet identifiant. Vérifiez le "
    "lien ou le code QR.",
    "verify.status.title": "État d'une preuve",
    "verify.status.intro": "{provider} a enregistré la preuve suivante.",
    "verify.status.type": "Type de preuve",
    "verify.status.sealed": "Scellée",
    "verify.status.pending": "En cours de scellement",
    "verify.status.sealed_explain": "Le prestataire détient cette preuve scellée et horodatée. "
    "Pour vérifier qu'un document est intact, déposez-le sur la page de vérification.",
    "verify.status.pending_explain": "La preuve est enregistrée ; son sceau et son horodatage "
    "sont en cours.",
    "verify.status.check_file": "Vérifier un document",
    "pki.title": "Certificats de confiance et révocation",
    "pki.intro": "Ces fichiers permettent à chacun de vérifier les preuves de ce prestataire "
    "sans passer par lui.",
    "pki.anchors": "Certificats de confiance",
    "pki.valid": "Valide du {start} au {end}",
    "pki.crl": "Liste de révocation (CRL)",
    "pki.crl_dates": "Émise le {issued}, prochaine mise à jour le {next}",
    "pki.revoked": "Certificats révoqués : {n}",
    "pki.how": "Commande : lre-gateway verify --anchors anchors.pem proof.pdf",
    "code.title": "Confirmez votre identité",
    "code.explain_sms": "Avant d'accepter ou de refuser, confirmez que vous êtes bien le "
    "destinataire : nous envoyons un code à usage unique par SMS au {to}.",
    "code.explain_email": "Avant d'accepter ou de refuser, confirmez que vous êtes bien le "
    "destinataire : nous envoyons un code à usage unique par courriel à {to}.",
    "code.send": "Envoyez-moi un code",
    "code.sent_sms": "Un code a été envoyé par SMS au {to} le {time}. Il est valable 10 minutes.",
    "code.sent_email": "Un code a été envoyé par courriel à {to} le {time}. Il est valable "
    "10 minutes.",
    "code.label": "Code reçu (6 chiffres)",
    "code.resend": "Envoyez-moi un nouveau code",
    "code.limits": "Un code sert une seule fois. 5 essais par code, 3 codes par heure au plus.",
    "code.wrong": "Ce code n'est pas le bon. Il vous reste {n} essai(s) avec ce code.",
    "code.expired": "Ce code a expiré (il est valable 10 minutes). Demandez un nouveau code.",
    "code.exhausted": "Trop d'essais avec ce code : il n'est plus valable. Demandez un nouveau "
    "code.",
    "code.wait": "Trop d'essais ou de codes demandés. Pour votre sécurité, vous pourrez demander "
    "un nouveau code à partir du {time}. Rien n'a été enregistré.",
    "code.required": "Demandez d'abord un code, puis saisissez-le avant d'accepter ou de refuser.",
    "code.sms_failed": "Le SMS n'a pas pu être remis. Vérifiez votre téléphone ou demandez un "
    "nouveau code.",
    "outbox.sms_title": "SMS (développement)",
    "sms.notice": "{provider} : une lettre recommandée électronique ({reference}) vous attend. "
    "Acceptez-la ou refusez-la avant le {deadline} : {link}",
    "sms.notice_from": "{provider} : une lettre recommandée électronique de {sender} "
    "({reference}) vous attend. Acceptez-la ou refusez-la avant le {deadline} : {link}",
    "sms.code": "Votre code {provider} : {code}. Valable {minutes} min. Ne le communiquez à "
    "personne.",
    "codemail.subject": "Votre code de confirmation",
    "codemail.intro": "Voici le code à saisir sur la page de la lettre recommandée {reference} "
    "pour confirmer votre identité :",
    "codemail.validity": "Ce code est valable {minutes} minutes et ne sert qu'une fois.",
    "codemail.warning": "Si vous n'avez pas demandé ce code, ignorez ce message. Ne le "
    "communiquez à personne.",
    "error.429": "Trop de tentatives. Patientez avant de réessayer.",
    "error.429.title": "Trop de tentatives",
}

_EN: Final[dict[str, str]] = {
    "site.name": "Electronic registered letter",
    "site.footer": "{provider} — electronic registered letters. "
    "Every event yields a signed, timestamped proof.",
    "site.language": "Language",
    "landing.title": "Registered mail, made electronic",
    "landing.intro": "This service replaces postal registered mail. The sender deposits a letter, "
    "the provider certifies and keeps it, then the recipient receives an email with a link to "
    "accept or refuse it.",
    "landing.recipient_title": "Did you receive a notification?",
    "landing.recipient_body": "Open the link in your notification email. You can accept or "
    "refuse the letter until the deadline shown. Its content is released to you only after you "
    "accept, and your decision is sent to the sender as a proof.",
    "landing.sender_title": "Sending a letter?",
    "landing.sender_body": "Email it from your sender account. You receive a proof of deposit, "
    "then an acknowledgement of receipt if the recipient accepts it, a proof of refusal if they "
    "refuse it, or a proof of negligence if they do not answer in time.",
    "landing.proofs_title": "Proofs anyone can verify",
    "landing.proofs_body": "Every proof is a signed and timestamped XML file. It can be verified "
    "without us, using the trust anchors published here:",
    "landing.anchors_link": "trust anchors (anchors.pem)",
    "field.reference": "Reference",
    "field.recipient": "Recipient",
    "field.sender": "Sender",
    "field.declared_name": "Name stated by the sender (not verified)",
    "zone.Africa/Casablanca": "Morocco time",
    "field.subject": "Subject",
    "field.deposited": "Deposited on",
    "field.deadline": "Accept or refuse before",
    "field.status": "Status",
    "state.deposited": "Awaiting your decision",
    "state.notified": "Awaiting your decision",
    "state.accepted": "Accepted",
    "state.handed_over": "Accepted",
    "state.refused": "Refused",
    "state.neglected": "Deadline passed",
    "state.undeliverable": "Not delivered",
    "letter.title": "A registered electronic letter is waiting for you",
    "letter.sender_hidden": "The sender and the subject will be shown to you if you accept the "
    "letter.",
    "letter.accept_explain": "If you accept, the content of the letter is released to you at "
    "once and the sender receives an acknowledgement of receipt.",
    "letter.refuse_explain": "If you refuse, you will not see the content and the sender "
    "receives a proof of refusal.",
    "letter.neglect_explain": "Without an answer before the deadline, the letter is considered "
    "neglected and the sender receives a proof of negligence.",
    "letter.final": "Your decision is final and it is recorded.",
    "button.accept": "Accept",
    "button.refuse": "Refuse",
    "letter.accepted_title": "Letter accepted",
    "letter.accepted_on": "You accepted this letter on {time}.",
    "letter.content_title": "Content of the letter",
    "letter.no_text": "This letter has no text that can be shown here; open the original "
    "message or the attachments.",
    "letter.attachments_title": "Attachments",
    "letter.no_attachments": "No attachments.",
    "letter.original_title": "Original message",
    "letter.download_original": "Download the original message (.eml)",
    "letter.original_explain": "The original message is byte for byte the one the sender "
    "deposited.",
    "letter.refused_title": "Letter refused",
    "letter.refused_on": "You refused this letter on {time}.",
    "letter.refused_note": "Its content will not be shown to you. The sender has received a "
    "proof of refusal.",
    "letter.neglected_title": "Deadline passed",
    "letter.neglected": "The deadline to accept or refuse this letter passed on {time}. The "
    "letter is considered neglected and its content can no longer be released to you.",
    "letter.undeliverable_title": "Letter not delivered",
    "letter.undeliverable": "The notification of this letter could not be delivered to you; "
    "the letter was not delivered and its content cannot be viewed here. Contact the sender if "
    "needed.",
    "size.bytes": "{n} bytes",
    "size.kb": "{n} KB",
    "size.mb": "{n} MB",
    "error.title": "Error {status}",
    "error.400": "The request is not valid.",
    "error.403": "The content of this letter is released only after it has been accepted.",
    "error.403.title": "Content not available",
    "error.404": "This link matches no letter and no page. Check that it is complete: copy all "
    "of it from the notification email.",
    "error.404.title": "Unknown link",
    "error.405": "This address does not accept this kind of request.",
    "error.405.title": "Request not allowed",
    "error.409": "A decision has already been recorded for this letter; it cannot be changed.",
    "error.409.title": "Decision already recorded",
    "error.410": "The deadline to accept or refuse this letter has passed. The letter is "
    "considered neglected.",
    "error.410.title": "Deadline passed",
    "error.413": "The request is too large.",
    "error.415": "This content type is not accepted here.",
    "error.500": "An unexpected error happened on our side. Nothing was lost: try again in a "
    "moment.",
    "error.500.title": "Unexpected error",
    "error.csrf.title": "Form expired",
    "error.csrf": "For your security, this form has expired or did not come from this site. "
    "Open the letter's page again and retry. Nothing was recorded.",
    "error.back_to_letter": "Back to the letter",
    "error.home": "Home",
    "outbox.title": "Outbox (development)",
    "outbox.explain": "Development mode: the gateway's emails are not sent but kept here.",
    "outbox.empty": "No email yet.",
    "outbox.to": "To",
    "outbox.from": "From",
    "outbox.subject": "Subject",
    "outbox.date": "Date",
    "outbox.size": "Size",
    "outbox.raw": "Download the raw message",
    "outbox.back": "Back to the outbox",
    "outbox.no_text": "This message has no text part.",
    "notice.subject": "Registered letter awaiting you",
    "notice.greeting": "Hello,",
    "notice.intro": "A registered electronic letter is waiting for you.",
    "notice.sender_hidden": "The sender and the subject will be shown to you if you accept the "
    "letter.",
    "notice.deadline": "You can accept or refuse it until {time}.",
    "notice.action": "To accept or refuse it, open this link:",
    "notice.button": "Accept or refuse the letter",
    "notice.copy_link": "If the button does not work, copy this address into your browser:",
    "notice.content_note": "The content of the letter is released to you only after you accept it.",
    "notice.recorded_note": "Your acceptance or refusal is recorded and the sender receives a "
    "proof of it. Without an answer before the deadline, the letter is considered neglected.",
    "notice.automatic": "This message was sent automatically by {provider}; please do not reply.",
    "notice.summary": "A registered electronic letter is waiting for you. Open the link above to "
    "accept or refuse it before {time}.",
    "proof.subject": "{title} — {reference} — {recipient}",
    "proof.intro": "{provider} sends you the following proof for your electronic registered "
    "letter.",
    "proof.type": "Type of proof",
    "proof.what": "Event",
    "proof.deposited": "Deposit",
    "proof.event_time": "Time of the event",
    "proof.deadline": "Acceptance deadline",
    "proof.reason": "Reason",
    "proof.message_title": "Deposited message",
    "proof.sha256": "SHA-256 of the message (as received)",
    "proof.size": "Size",
    "proof.attachments": "Attachments",
    "proof.no_attachments": "none",
    "proof.evidence_id": "Evidence identifier",
    "proof.previous": "Previous evidence (SHA-256)",
    "proof.verify_title": "How to verify this proof",
    "proof.verify_intro": "The attached files evidence.xml (the proof) and evidence.xml.p7s (its "
    "CMS signature, timestamped per RFC 3161) are all you need: keep them together.",
    "proof.verify_tool": "With the gateway's tool:",
    "proof.verify_openssl": "Or with OpenSSL alone, after downloading the trust anchors from "
    "{url}:",
    "proof.verify_note": "Only the signed evidence.xml is authoritative; this text is a readable "
    "summary of it.",
    "proof.log": "This proof is entered in the gateway's public evidence log, which nobody can "
    "rewrite unseen. Its inclusion proof (save it beside the proof as {evidence_id}.log.json): "
    "{url}",
    "event.SubmissionAcceptance": "Your letter was deposited and certified on {time}. The "
    "recipient is notified and can accept or refuse it until the deadline.",
    "event.NotificationForAcceptance": "The notification was handed to the recipient's mail "
    "server on {time}.",
    "event.NotificationForAcceptanceFailure": "The notification could not be delivered to the "
    "recipient: the letter was not delivered.",
    "event.ConsignmentAcceptance": "The recipient accepted the letter on {time}; its content is "
    "now available to them.",
    "event.ConsignmentRejection": "The recipient refused the letter on {time}; its content was "
    "not disclosed to them.",
    "event.AcceptanceRejectionExpiry": "The recipient neither accepted nor refused the letter "
    "before the deadline: it is considered neglected and its content was not disclosed to them.",
    "event.ContentHandover": "The recipient downloaded the content of the letter on {time}.",
    "evidence.SubmissionAcceptance": "Proof of deposit",
    "evidence.NotificationForAcceptance": "Proof of notification",
    "evidence.NotificationForAcceptanceFailure": "Proof of non-delivery",
    "evidence.ConsignmentAcceptance": "Acknowledgement of receipt",
    "evidence.ConsignmentRejection": "Proof of refusal",
    "evidence.AcceptanceRejectionExpiry": "Proof of negligence",
    "evidence.ContentHandover": "Proof of content handover",
    "evidence.ContentPurged": "Statement of erasure at the end of retention",
    # public verification page (/verify) and trust anchors (/pki/)
    "verify.title": "Verify a proof",
    "verify.intro": "Upload a proof issued by this provider: the PDF certificate (proof.pdf), "
    "the proof mail (.eml), or evidence.xml with its seal evidence.xml.p7s. You will learn "
    "whether it is genuine and intact, and what it states.",
    "verify.files_label": "Files of the proof",
    "verify.files_help": "{max} at most. The files are checked, then forgotten: nothing is kept.",
    "verify.submit": "Verify",
    "verify.offline": "You can also verify without us, with the command “lre-gateway verify” or "
    "pyHanko and OpenSSL, using the",
    "verify.again": "Verify another proof",
    "verify.valid_all": "Valid proof",
    "verify.invalid_all": "Proof NOT valid",
    "verify.valid": "Valid",
    "verify.invalid": "Not valid",
    "verify.valid_explain": "Every part is intact, sealed by this provider and timestamped. "
    "What it states is shown below.",
    "verify.invalid_explain": "At least one part could not be confirmed. Do not rely on this "
    "document; the reason is given below.",
    "verify.kind.evidence": "Signed evidence (evidence.xml)",
    "verify.kind.pdf": "PDF certificate",
    "verify.kind.smime": "Signature of the proof mail (S/MIME)",
    "verify.reason.unsigned": "This file is not signed.",
    "verify.reason.unknown_file": "This file is not a proof we recognise (PDF, .eml mail, or "
    "evidence.xml with its .p7s).",
    "verify.reason.missing": "A part of the proof is missing.",
    "verify.reason.modified": "The file was changed after it was sealed.",
    "verify.reason.damaged": "The file is damaged or unreadable.",
    "verify.reason.expired": "A certificate was not valid when the seal was made.",
    "verify.reason.untrusted": "The seal does not come from a trusted authority of this provider.",
    "verify.reason.timestamp": "The timestamp is missing or not valid.",
    "verify.reason.other": "The proof could not be confirmed.",
    "verify.not_certified": "Warning: what follows is NOT certified by a valid seal.",
    "verify.says": "What the proof states",
    "verify.event_time": "Time of the event",
    "verify.reason": "Reason",
    "verify.message_sha256": "SHA-256 of the message",
    "verify.event_uri": "ETSI EN 319 522 event",
    "verify.message_id": "Message identifier (Message-ID)",
    "verify.declared_name": "Name declared by the sender (not verified)",
    "verify.identification": "How the recipient was identified",
    "verify.reason_code": "Reason code",
    "verify.attachments": "Attachments",
    "verify.no_attachments": "None",
    "verify.sealed_by": "Sealed by",
    "verify.timestamp": "Timestamp",
    "verify.archived": "Archive timestamps",
    "verify.archived_count": "{n}, the latest:",
    "verify.evidence_id": "Proof identifier",
    "verify.no_file": "Choose at least one file to verify.",
    "verify.bad_form.title": "Unreadable upload",
    "verify.bad_form": "The form that was sent could not be read. Go back to the verification "
    "page and choose your files again.",
    "verify.too_large.title": "Files too large",
    "verify.too_large": "The files sent exceed the allowed size. A proof (PDF or mail) weighs a "
    "few hundred KB: check that you chose the right file.",
    "verify.unknown.title": "Unknown proof",
    "verify.unknown": "No proof of this provider has this identifier. Check the link or the QR "
    "code.",
    "verify.status.title": "Status of a proof",
    "verify.status.intro": "{provider} recorded the following proof.",
    "verify.status.type": "Type of proof",
    "verify.status.sealed": "Sealed",
    "verify.status.pending": "Being sealed",
    "verify.status.sealed_explain": "The provider holds this proof sealed and timestamped. To "
    "check that a document is intact, upload it on the verification page.",
    "verify.status.pending_explain": "The proof is recorded; its seal and timestamp are under way.",
    "verify.status.check_file": "Verify a document",
    "pki.title": "Trust anchors and revocation",
    "pki.intro": "With these files anyone can verify this provider's proofs without going "
    "through it.",
    "pki.anchors": "Trust anchors",
    "pki.valid": "Valid from {start} to {end}",
    "pki.crl": "Certificate revocation list (CRL)",
    "pki.crl_dates": "Issued {issued}, next update {next}",
    "pki.revoked": "Revoked certificates: {n}",
    "pki.how": "Command: lre-gateway verify --anchors anchors.pem proof.pdf",
    "code.title": "Confirm your identity",
    "code.explain_sms": "Before you accept or refuse, confirm that you are the recipient: we "
    "send a one-time code by SMS to {to}.",
    "code.explain_email": "Before you accept or refuse, confirm that you are the recipient: we "
    "send a one-time code by email to {to}.",
    "code.send": "Send me a code",
    "code.sent_sms": "A code was sent by SMS to {to} on {time}. It is valid for 10 minutes.",
    "code.sent_email": "A code was sent by email to {to} on {time}. It is valid for 10 minutes.",
    "code.label": "Code received (6 digits)",
    "code.resend": "Send me a new code",
    "code.limits": "A code works once. At most 5 tries per code and 3 codes per hour.",
    "code.wrong": "This code is not right. You have {n} more try(ies) with this code.",
    "code.expired": "This code has expired (it is valid for 10 minutes). Ask for a new code.",
    "code.exhausted": "Too many tries with this code: it is no longer valid. Ask for a new code.",
    "code.wait": "Too many tries or codes. For your security, you can ask for a new code from "
    "{time}. Nothing was recorded.",
    "code.required": "First ask for a code, then enter it before you accept or refuse.",
    "code.sms_failed": "The SMS could not be delivered. Check your phone or ask for a new code.",
    "outbox.sms_title": "SMS (development)",
    "sms.notice": "{provider}: a registered electronic letter ({reference}) awaits you. Accept "
    "or refuse it before {deadline}: {link}",
    "sms.notice_from": "{provider}: a registered electronic letter from {sender} ({reference}) "
    "awaits you. Accept or refuse it before {deadline}: {link}",
    "sms.code": "Your {provider} code: {code}. Valid {minutes} min. Never share it.",
    "codemail.subject": "Your confirmation code",
    "codemail.intro": "Here is the code to enter on the page of registered letter {reference} "
    "to confirm your identity:",
    "codemail.validity": "This code is valid for {minutes} minutes and works once.",
    "codemail.warning": "If you did not ask for this code, ignore this message. Never share it.",
    "error.429": "Too many tries. Please wait before trying again.",
    "error.429.title": "Too many tries",
}

_AR: Final[dict[str, str]] = {
    "site.name": "رسالة مضمونة إلكترونية",
    "site.footer": "{provider} — الرسائل المضمونة الإلكترونية. كل حدث يُثبت بدليل موقّع ومؤرّخ.",
    "site.language": "اللغة",
    "landing.title": "البريد المضمون، في صيغته الإلكترونية",
    "landing.intro": "تحلّ هذه الخدمة محلّ البريد المضمون الورقي. يودِع المرسِل رسالته، فيصادق "
    "عليها مقدّم الخدمة ويحفظها، ثم يتلقى المرسَل إليه بريدًا إلكترونيًا فيه رابط لقبولها أو رفضها.",
    "landing.recipient_title": "هل تلقيت إشعارًا؟",
    "landing.recipient_body": "افتح الرابط الموجود في رسالة الإشعار. يمكنك قبول الرسالة أو رفضها "
    "قبل انتهاء الأجل المحدد. لا يُسلَّم إليك محتواها إلا بعد قبولها، ويُبلَّغ المرسِل بقرارك "
    "بواسطة إثبات.",
    "landing.sender_title": "هل ترسل رسالة؟",
    "landing.sender_body": "أرسلها بالبريد الإلكتروني من حساب المرسِل الخاص بك. تتلقى إثبات "
    "الإيداع، ثم إشعارًا بالاستلام إذا قبلها المرسَل إليه، أو إثبات الرفض إذا رفضها، أو إثبات "
    "الإهمال إذا لم يُجب داخل الأجل.",
    "landing.proofs_title": "إثباتات يمكن لأي أحد التحقق منها",
    "landing.proofs_body": "كل إثبات ملف XML موقّع ومؤرّخ. يمكن التحقق منه دون الرجوع إلينا، "
    "باستعمال شهادات الثقة المنشورة هنا:",
    "landing.anchors_link": "شهادات الثقة (anchors.pem)",
    "field.reference": "المرجع",
    "field.recipient": "المرسَل إليه",
    "field.sender": "المرسِل",
    "field.declared_name": "الاسم الذي ذكره المرسِل (غير متحقَّق منه)",
    "zone.Africa/Casablanca": "بتوقيت المغرب",
    "field.subject": "الموضوع",
    "field.deposited": "تاريخ الإيداع",
    "field.deadline": "القبول أو الرفض قبل",
    "field.status": "الحالة",
    "state.deposited": "في انتظار قرارك",
    "state.notified": "في انتظار قرارك",
    "state.accepted": "مقبولة",
    "state.handed_over": "مقبولة",
    "state.refused": "مرفوضة",
    "state.neglected": "انتهى الأجل",
    "state.undeliverable": "لم تُسلَّم",
    "letter.title": "رسالة مضمونة إلكترونية في انتظارك",
    "letter.sender_hidden": "سيُكشف لك المرسِل والموضوع إذا قبلت الرسالة.",
    "letter.accept_explain": "إذا قبلت، يُسلَّم إليك محتوى الرسالة فورًا ويتلقى المرسِل إشعارًا "
    "بالاستلام.",
    "letter.refuse_explain": "إذا رفضت، لن ترى المحتوى ويتلقى المرسِل إثبات الرفض.",
    "letter.neglect_explain": "إذا لم تُجب قبل انتهاء الأجل، تُعتبر الرسالة مهملة ويتلقى المرسِل "
    "إثبات الإهمال.",
    "letter.final": "قرارك نهائي ويُسجَّل.",
    "button.accept": "قبول",
    "button.refuse": "رفض",
    "letter.accepted_title": "تم قبول الرسالة",
    "letter.accepted_on": "قبلت هذه الرسالة بتاريخ {time}.",
    "letter.content_title": "محتوى الرسالة",
    "letter.no_text": "لا تحتوي هذه الرسالة على نص يمكن عرضه هنا؛ افتح الرسالة الأصلية أو "
    "المرفقات.",
    "letter.attachments_title": "المرفقات",
    "letter.no_attachments": "لا توجد مرفقات.",
    "letter.original_title": "الرسالة الأصلية",
    "letter.download_original": "تنزيل الرسالة الأصلية بصيغة EML",
    "letter.original_explain": "الرسالة الأصلية مطابقة، بايتًا ببايت، لما أودعه المرسِل.",
    "letter.refused_title": "تم رفض الرسالة",
    "letter.refused_on": "رفضت هذه الرسالة بتاريخ {time}.",
    "letter.refused_note": "لن يُعرض عليك محتواها. وقد تلقى المرسِل إثبات الرفض.",
    "letter.neglected_title": "انتهى الأجل",
    "letter.neglected": "انتهى أجل قبول هذه الرسالة أو رفضها بتاريخ {time}. تُعتبر الرسالة مهملة "
    "ولم يعد من الممكن تسليم محتواها إليك.",
    "letter.undeliverable_title": "لم تُسلَّم الرسالة",
    "letter.undeliverable": "تعذّر إيصال إشعار هذه الرسالة إليك؛ لم تُسلَّم الرسالة ولا يمكن "
    "الاطلاع على محتواها هنا. اتصل بالمرسِل عند الحاجة.",
    "size.bytes": "{n} بايت",
    "size.kb": "{n} كيلوبايت",
    "size.mb": "{n} ميغابايت",
    "error.title": "خطأ {status}",
    "error.400": "الطلب غير صالح.",
    "error.403": "لا يُسلَّم محتوى هذه الرسالة إلا بعد قبولها.",
    "error.403.title": "المحتوى غير متاح",
    "error.404": "هذا الرابط لا يطابق أي رسالة أو صفحة. تحقق من أنه كامل: انسخه بالكامل من رسالة "
    "الإشعار.",
    "error.404.title": "رابط غير معروف",
    "error.405": "هذا العنوان لا يقبل هذا النوع من الطلبات.",
    "error.405.title": "طلب غير مسموح به",
    "error.409": "سبق تسجيل قرار بشأن هذه الرسالة؛ ولا يمكن تغييره.",
    "error.409.title": "القرار مسجَّل مسبقًا",
    "error.410": "انتهى أجل قبول هذه الرسالة أو رفضها. تُعتبر الرسالة مهملة.",
    "error.410.title": "انتهى الأجل",
    "error.413": "الطلب كبير جدًا.",
    "error.415": "نوع المحتوى هذا غير مقبول هنا.",
    "error.500": "حدث خطأ غير متوقع من جهتنا. لم يضِع أي شيء: أعد المحاولة بعد لحظات.",
    "error.500.title": "خطأ غير متوقع",
    "error.csrf.title": "انتهت صلاحية الاستمارة",
    "error.csrf": "حفاظًا على أمانك، انتهت صلاحية هذه الاستمارة أو أنها لم تصدر عن هذا الموقع. "
    "افتح صفحة الرسالة من جديد وأعد المحاولة. لم يُسجَّل أي شيء.",
    "error.back_to_letter": "العودة إلى الرسالة",
    "error.home": "الصفحة الرئيسية",
    "outbox.title": "صندوق الصادر (للتطوير)",
    "outbox.explain": "وضع التطوير: لا تُرسَل رسائل البوابة بل تُحفظ هنا.",
    "outbox.empty": "لا توجد رسائل بعد.",
    "outbox.to": "إلى",
    "outbox.from": "من",
    "outbox.subject": "الموضوع",
    "outbox.date": "التاريخ",
    "outbox.size": "الحجم",
    "outbox.raw": "تنزيل الرسالة الخام",
    "outbox.back": "العودة إلى صندوق الصادر",
    "outbox.no_text": "لا تحتوي هذه الرسالة على جزء نصي.",
    "notice.subject": "رسالة مضمونة إلكترونية في انتظارك",
    "notice.greeting": "تحية طيبة،",
    "notice.intro": "رسالة مضمونة إلكترونية في انتظارك.",
    "notice.sender_hidden": "سيُكشف لك المرسِل والموضوع إذا قبلت الرسالة.",
    "notice.deadline": "يمكنك قبولها أو رفضها إلى غاية {time}.",
    "notice.action": "لقبولها أو رفضها، افتح هذا الرابط:",
    "notice.button": "قبول الرسالة أو رفضها",
    "notice.copy_link": "إذا لم يعمل الزر، انسخ هذا العنوان في متصفحك:",
    "notice.content_note": "لا يُسلَّم إليك محتوى الرسالة إلا بعد قبولها.",
    "notice.recorded_note": "يُسجَّل قبولك أو رفضك ويتلقى المرسِل إثباتًا بذلك. إذا لم تُجب قبل "
    "انتهاء الأجل، تُعتبر الرسالة مهملة.",
    "notice.automatic": "أُرسلت هذه الرسالة تلقائيًا من طرف {provider}؛ يُرجى عدم الرد عليها.",
    "notice.summary": "رسالة مضمونة إلكترونية في انتظارك. افتح الرابط أعلاه لقبولها أو رفضها قبل "
    "{time}.",
    "proof.subject": "{title} — {reference} — {recipient}",
    "proof.intro": "يوجّه إليك {provider} الإثبات التالي الخاص برسالتك المضمونة الإلكترونية.",
    "proof.type": "نوع الإثبات",
    "proof.what": "الحدث",
    "proof.deposited": "الإيداع",
    "proof.event_time": "تاريخ الحدث",
    "proof.deadline": "أجل القبول",
    "proof.reason": "السبب",
    "proof.message_title": "الرسالة المودَعة",
    "proof.sha256": "بصمة SHA-256 للرسالة (كما استُلمت)",
    "proof.size": "الحجم",
    "proof.attachments": "المرفقات",
    "proof.no_attachments": "لا شيء",
    "proof.evidence_id": "معرّف الإثبات",
    "proof.previous": "الإثبات السابق (SHA-256)",
    "proof.verify_title": "كيفية التحقق من هذا الإثبات",
    "proof.verify_intro": "يكفي الملفان المرفقان evidence.xml (الإثبات) وevidence.xml.p7s (توقيعه "
    "CMS المؤرَّخ وفق RFC 3161): احتفظ بهما معًا.",
    "proof.verify_tool": "باستعمال أداة البوابة:",
    "proof.verify_openssl": "أو باستعمال OpenSSL وحده، بعد تنزيل شهادات الثقة من {url}:",
    "proof.verify_note": "ملف evidence.xml الموقَّع وحده هو الحجة؛ هذا النص مجرد ملخص مقروء له.",
    "proof.log": "قُيِّد هذا الإثبات في السجل العام للإثباتات لدى البوابة، ولا يمكن لأحد إعادة "
    "كتابته دون أن يُكشف ذلك. دليل إدراجه (احفظه بجانب الإثبات باسم {evidence_id}.log.json): {url}",
    "event.SubmissionAcceptance": "أُودعت رسالتك وصودق عليها بتاريخ {time}. يتلقى المرسَل إليه "
    "إشعارًا ويمكنه قبولها أو رفضها قبل انتهاء الأجل.",
    "event.NotificationForAcceptance": "سُلِّم الإشعار إلى خادم البريد الخاص بالمرسَل إليه بتاريخ "
    "{time}.",
    "event.NotificationForAcceptanceFailure": "تعذّر إيصال الإشعار إلى المرسَل إليه: لم تُسلَّم "
    "الرسالة.",
    "event.ConsignmentAcceptance": "قبل المرسَل إليه الرسالة بتاريخ {time}؛ وأصبح محتواها متاحًا له.",
    "event.ConsignmentRejection": "رفض المرسَل إليه الرسالة بتاريخ {time}؛ ولم يُكشف له محتواها.",
    "event.AcceptanceRejectionExpiry": "لم يقبل المرسَل إليه الرسالة ولم يرفضها قبل انتهاء الأجل: "
    "تُعتبر مهملة ولم يُكشف له محتواها.",
    "event.ContentHandover": "نزّل المرسَل إليه محتوى الرسالة بتاريخ {time}.",
    "evidence.SubmissionAcceptance": "إثبات الإيداع",
    "evidence.NotificationForAcceptance": "إثبات الإشعار",
    "evidence.NotificationForAcceptanceFailure": "إثبات عدم التسليم",
    "evidence.ConsignmentAcceptance": "إشعار بالاستلام",
    "evidence.ConsignmentRejection": "إثبات الرفض",
    "evidence.AcceptanceRejectionExpiry": "إثبات الإهمال",
    "evidence.ContentHandover": "إثبات تسليم المحتوى",
    "evidence.ContentPurged": "إفادة بالمحو عند انتهاء مدة الحفظ",
    # public verification page (/verify) and trust anchors (/pki/)
    "verify.title": "التحقق من إثبات",
    "verify.intro": "ارفع إثباتًا صادرًا عن مقدِّم الخدمة هذا: الشهادة بصيغة PDF (proof.pdf)، "
    "أو رسالة الإثبات (‎.eml)، أو الملف evidence.xml مع ختمه evidence.xml.p7s. ستعرف ما إذا كان "
    "أصليًا وسليمًا، وما الذي يثبته.",
    "verify.files_label": "ملفات الإثبات",
    "verify.files_help": "الحد الأقصى {max}. تُفحص الملفات ثم تُنسى: لا يُحفظ أي شيء.",
    "verify.submit": "تحقّق",
    "verify.offline": "يمكنك أيضًا التحقق من دوننا، بالأمر «lre-gateway verify» أو بأداتي "
    "pyHanko وOpenSSL، باستعمال",
    "verify.again": "التحقق من إثبات آخر",
    "verify.valid_all": "إثبات صحيح",
    "verify.invalid_all": "إثبات غير صحيح",
    "verify.valid": "صحيح",
    "verify.invalid": "غير صحيح",
    "verify.valid_explain": "كل جزء سليم، مختوم من مقدِّم الخدمة هذا ومؤرَّخ. مضمونه معروض أدناه.",
    "verify.invalid_explain": "تعذّر تأكيد جزء واحد على الأقل. لا تعتمد على هذه الوثيقة؛ السبب "
    "مبيَّن أدناه.",
    "verify.kind.evidence": "إثبات موقَّع (evidence.xml)",
    "verify.kind.pdf": "شهادة PDF",
    "verify.kind.smime": "توقيع رسالة الإثبات (S/MIME)",
    "verify.reason.unsigned": "هذا الملف غير موقَّع.",
    "verify.reason.unknown_file": "هذا الملف ليس إثباتًا معروفًا (PDF، أو رسالة ‎.eml، أو "
    "evidence.xml مع ملف ‎.p7s الخاص به).",
    "verify.reason.missing": "جزء من الإثبات مفقود.",
    "verify.reason.modified": "عُدِّل الملف بعد ختمه.",
    "verify.reason.damaged": "الملف تالف أو غير مقروء.",
    "verify.reason.expired": "إحدى الشهادات لم تكن صالحة وقت الختم.",
    "verify.reason.untrusted": "الختم لا يصدر عن سلطة موثوقة لدى مقدِّم الخدمة هذا.",
    "verify.reason.timestamp": "الختم الزمني مفقود أو غير صالح.",
    "verify.reason.other": "تعذّر تأكيد الإثبات.",
    "verify.not_certified": "تنبيه: ما يلي غير مصادَق عليه بختم صحيح.",
    "verify.says": "ما يثبته الإثبات",
    "verify.event_time": "تاريخ الحدث",
    "verify.reason": "السبب",
    "verify.message_sha256": "بصمة SHA-256 للرسالة",
    "verify.event_uri": "حدث ETSI EN 319 522",
    "verify.message_id": "معرّف الرسالة (Message-ID)",
    "verify.declared_name": "الاسم الذي صرّح به المرسِل (غير متحقَّق منه)",
    "verify.identification": "طريقة التحقق من هوية المرسَل إليه",
    "verify.reason_code": "رمز السبب",
    "verify.attachments": "المرفقات",
    "verify.no_attachments": "لا شيء",
    "verify.sealed_by": "مختوم من طرف",
    "verify.timestamp": "الختم الزمني",
    "verify.archived": "أختام الأرشفة الزمنية",
    "verify.archived_count": "{n}، وآخرها:",
    "verify.evidence_id": "معرِّف الإثبات",
    "verify.no_file": "اختر ملفًا واحدًا على الأقل للتحقق منه.",
    "verify.bad_form.title": "إرسال غير مقروء",
    "verify.bad_form": "تعذّرت قراءة الاستمارة المرسَلة. عد إلى صفحة التحقق واختر ملفاتك من جديد.",
    "verify.too_large.title": "ملفات كبيرة جدًا",
    "verify.too_large": "تتجاوز الملفات المرسَلة الحجم المسموح به. يزن الإثبات (PDF أو رسالة) "
    "بضع مئات من الكيلوبايتات: تحقّق من أنك اخترت الملف الصحيح.",
    "verify.unknown.title": "إثبات غير معروف",
    "verify.unknown": "لا يحمل أي إثبات لمقدِّم الخدمة هذا هذا المعرِّف. تحقّق من الرابط أو من رمز QR.",
    "verify.status.title": "حالة إثبات",
    "verify.status.intro": "سجّل {provider} الإثبات التالي.",
    "verify.status.type": "نوع الإثبات",
    "verify.status.sealed": "مختوم",
    "verify.status.pending": "قيد الختم",
    "verify.status.sealed_explain": "يحتفظ مقدِّم الخدمة بهذا الإثبات مختومًا ومؤرَّخًا. للتحقق "
    "من سلامة وثيقة، ارفعها في صفحة التحقق.",
    "verify.status.pending_explain": "الإثبات مسجَّل؛ ختمه وتأريخه جاريان.",
    "verify.status.check_file": "التحقق من وثيقة",
    "pki.title": "شهادات الثقة والإبطال",
    "pki.intro": "تتيح هذه الملفات لأي شخص التحقق من إثباتات مقدِّم الخدمة هذا دون المرور به.",
    "pki.anchors": "شهادات الثقة",
    "pki.valid": "صالحة من {start} إلى {end}",
    "pki.crl": "قائمة الشهادات الملغاة (CRL)",
    "pki.crl_dates": "صدرت في {issued}، والتحديث التالي في {next}",
    "pki.revoked": "الشهادات الملغاة: {n}",
    "pki.how": "الأمر: lre-gateway verify --anchors anchors.pem proof.pdf",
    "code.title": "أكّد هويتك",
    "code.explain_sms": "قبل القبول أو الرفض، أكّد أنك المرسل إليه: نرسل رمزًا صالحًا لمرة واحدة "
    "عبر رسالة قصيرة إلى {to}.",
    "code.explain_email": "قبل القبول أو الرفض، أكّد أنك المرسل إليه: نرسل رمزًا صالحًا لمرة "
    "واحدة عبر البريد الإلكتروني إلى {to}.",
    "code.send": "أرسلوا إليّ رمزًا",
    "code.sent_sms": "أُرسل رمز عبر رسالة قصيرة إلى {to} في {time}. وهو صالح لمدة 10 دقائق.",
    "code.sent_email": "أُرسل رمز عبر البريد الإلكتروني إلى {to} في {time}. وهو صالح لمدة 10 دقائق.",
    "code.label": "الرمز المستلم (6 أرقام)",
    "code.resend": "أرسلوا إليّ رمزًا جديدًا",
    "code.limits": "يُستعمل الرمز مرة واحدة. 5 محاولات لكل رمز و3 رموز في الساعة على الأكثر.",
    "code.wrong": "هذا الرمز غير صحيح. تبقى لك {n} محاولة بهذا الرمز.",
    "code.expired": "انتهت صلاحية هذا الرمز (صالح لمدة 10 دقائق). اطلب رمزًا جديدًا.",
    "code.exhausted": "محاولات كثيرة بهذا الرمز: لم يعد صالحًا. اطلب رمزًا جديدًا.",
    "code.wait": "محاولات أو رموز كثيرة. حفاظًا على أمنك، يمكنك طلب رمز جديد ابتداءً من {time}. "
    "لم يُسجَّل أي شيء.",
    "code.required": "اطلب رمزًا أولًا، ثم أدخله قبل القبول أو الرفض.",
    "code.sms_failed": "تعذّر تسليم الرسالة القصيرة. تحقق من هاتفك أو اطلب رمزًا جديدًا.",
    "outbox.sms_title": "الرسائل القصيرة (التطوير)",
    "sms.notice": "{provider}: رسالة مضمونة إلكترونية ({reference}) في انتظارك. اقبلها أو "
    "ارفضها قبل {deadline}: {link}",
    "sms.notice_from": "{provider}: رسالة مضمونة إلكترونية من {sender} ({reference}) في "
    "انتظارك. اقبلها أو ارفضها قبل {deadline}: {link}",
    "sms.code": "رمزك لدى {provider}: {code}. صالح {minutes} دقائق. لا تشاركه مع أحد.",
    "codemail.subject": "رمز التأكيد الخاص بك",
    "codemail.intro": "إليك الرمز الذي يجب إدخاله في صفحة الرسالة المضمونة {reference} لتأكيد "
    "هويتك:",
    "codemail.validity": "هذا الرمز صالح لمدة {minutes} دقائق ويُستعمل مرة واحدة.",
    "codemail.warning": "إذا لم تطلب هذا الرمز، فتجاهل هذه الرسالة. لا تشاركه مع أحد.",
    "error.429": "محاولات كثيرة. يُرجى الانتظار قبل المحاولة من جديد.",
    "error.429.title": "محاولات كثيرة",
}

CATALOGUES: Final[dict[str, dict[str, str]]] = {"fr": _FR, "en": _EN, "ar": _AR}

MAX_ACCEPT_LANGUAGE = 4096  # longer headers are ignored rather than parsed


def valid(lang: str | None) -> str | None:
    """The site language named by lang ("en", "EN", "en-GB"), or None."""
    if not lang:
        return None
    primary = lang.strip().lower().replace("_", "-").split("-", 1)[0]
    return primary if primary in LANGUAGES else None


def negotiate(accept_language: str | None, explicit: str | None = None) -> str:
    """Pick the page language: explicit if valid, else the best of Accept-Language, else French."""
    chosen = valid(explicit)
    if chosen:
        return chosen
    if not accept_language or len(accept_language) > MAX_ACCEPT_LANGUAGE:
        return DEFAULT
    best: tuple[float, int, str] | None = None
    for position, item in enumerate(accept_language.split(",")):
        tag, _, params = item.partition(";")
        lang = valid(tag)
        if lang is None:
            continue
        quality = _quality(params)
        if quality <= 0:
            continue
        candidate = (quality, -position, lang)
        if best is None or candidate > best:
            best = candidate
    return best[2] if best else DEFAULT


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value.strip())
            except ValueError:
                return 0.0
            return quality if 0.0 <= quality <= 1.0 else 0.0
    return 1.0


def direction(lang: str) -> Literal["ltr", "rtl"]:
    """Text direction of a site language."""
    return "rtl" if lang in RTL else "ltr"


def gettext(lang: str, key: str, **params: object) -> str:
    """The catalogue text for key in lang (French for an unknown language), formatted."""
    text = CATALOGUES.get(lang, _FR)[key]
    return text.format(**params) if params else text


def evidence_title(lang: str, event: EvidenceType) -> str:
    """The proof's name in words, e.g. "Preuve de dépôt" for SubmissionAcceptance."""
    return gettext(lang, f"evidence.{event.value}")


def format_time(dt: datetime, lang: str, zone: ZoneInfo) -> str:
    """A time in the gateway's zone then in UTC: "27/11/2026 14:05 (Africa/Casablanca) — 13:05 UTC".

    The UTC part repeats the date when it differs from the local date. Naive datetimes are
    taken as UTC.
    """
    del lang  # same numeric day/month/year order in the three languages
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    local = dt.astimezone(zone)
    utc = dt.astimezone(UTC)
    local_text = local.strftime("%d/%m/%Y %H:%M")
    utc_text = (
        utc.strftime("%H:%M") if utc.date() == local.date() else utc.strftime("%d/%m/%Y %H:%M")
    )
    return f"{local_text} ({zone.key}) — {utc_text} UTC"


def zone_name(zone: ZoneInfo, lang: str) -> str:
    """The zone in words when the catalogue has it ("heure du Maroc"), else its IANA name."""
    return CATALOGUES.get(lang, _FR).get(f"zone.{zone.key}", zone.key)


def format_time_short(dt: datetime, lang: str, zone: ZoneInfo) -> str:
    """A time in the gateway's zone, zone named, for an SMS: "30/11/2026 23:59 (heure du Maroc)"."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return f"{dt.astimezone(zone):%d/%m/%Y %H:%M} ({zone_name(zone, lang)})"


def isolate(text: str, lang: str) -> str:
    """text kept left to right inside a right-to-left sentence (Unicode LRI … PDI), else as is.

    Without it an Arabic sentence shows "12/12/2026 14:05 (Africa/Casablanca)" with its parts
    reordered by the bidirectional algorithm.
    """
    return f"\u2066{text}\u2069" if lang in RTL else text


def format_size(size: int, lang: str) -> str:
    """A byte count in words: "512 octets", "12 Ko", "3.4 MB"."""
    if size < 1000:
        return gettext(lang, "size.bytes", n=size)
    if size < 1_000_000:
        return gettext(lang, "size.kb", n=_decimal(size / 1000, lang))
    return gettext(lang, "size.mb", n=_decimal(size / 1_000_000, lang))


def _decimal(value: float, lang: str) -> str:
    text = f"{value:.0f}" if value >= 100 else f"{value:.1f}".removesuffix(".0")
    return text.replace(".", ",") if lang == "fr" else text
