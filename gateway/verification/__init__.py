"""Offline verification of every form a proof takes: PDF certificate, proof mail, evidence pair.

Pure-ish: bytes and trust anchors in, `Verdict`s out (gateway.evidence.verify.Verdict), no
network, no database, nothing written. Used by `lre-gateway verify` and by the web's /verify.

- files.py    which proof each uploaded or named file is, and the verdicts for all of them
- pdf.py      proof.pdf: PAdES signature (pyHanko, offline with the embedded CRL) + its
              embedded evidence.xml / evidence.xml.p7s
- mail.py     a proof mail (.eml): its S/MIME signature, then every evidence pair and PDF inside
- reasons.py  a problem's reason code → the catalogue key that explains it in fr/en/ar
"""
