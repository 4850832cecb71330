"""The proof.pdf a sender receives after a real deposit is PDF/A-3b (pikepdf as the reader).

tests/unit/test_pdfa.py checks every PDF/A-3b requirement on certificates made as the PDF job
makes them; this test takes the PDF out of the proof mail the running gateway sent, made in
its certificate process, and checks the identification, the version and pikepdf's verdict.
"""

from __future__ import annotations

import io

import pikepdf
import pikepdf.pdfa

from gateway.app import Running
from tests.support.client import attachments_of, wait_for
from tests.support.letters import deposit
from tests.support.verifying import raw_proofs


async def test_the_proof_of_deposit_mailed_to_the_sender_is_pdfa_3b(gateway: Running) -> None:
    """The PDF in the proof of deposit mail says PDF/A-3b, is PDF 1.7 and has no violation."""
    await deposit(gateway)
    proofs = await wait_for(
        lambda: raw_proofs(gateway), within=60, what="the proof of deposit mail with its PDF"
    )
    pdf = attachments_of(proofs["SubmissionAcceptance"])["proof.pdf"]
    assert pdf.startswith(b"%PDF-1.7\n")
    with pikepdf.open(io.BytesIO(pdf)) as document:
        assert document.open_metadata().pdfa_status == "3B"
        assert "/Version" not in document.Root
        assert [str(intent.S) for intent in document.Root.OutputIntents] == ["/GTS_PDFA1"]
        assert "/DSS" in document.Root  # the sealed PDF (PAdES-B-LT), not the bare rendering
        report = pikepdf.pdfa.check(document, "3b")
        assert report.violations == (), report.summary()
