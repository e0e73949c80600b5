"""Born-signed PDFs: pages Zhengyin writes itself and certifies in the same single revision.

Licences and verification reports are never rendered and then signed incrementally; they
are written in one pass:

    fonts ──▶ fontsubset ─┐
    qr ───────────────────┼─▶ certified (licence page) / reportpdf (report pages)
    cms (CMS SignedData) ─┘            │
                                       └─▶ pdfwriter: objects, xref, /ByteRange, /Contents

Documents from elsewhere are stamped incrementally with pyHanko by
:mod:`zhengyin.signing.stamper` instead.
"""
