"""Imported by the certificate processes' forkserver: parse the fonts once, before any fork."""

from gateway.pdf.render import shared_renderer

shared_renderer()
