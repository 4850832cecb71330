"""PDF proof certificates: rendering (fpdf2), PAdES sealing and archive timestamps (pyHanko)."""
