"""What a person reads: matplotlib figures of a fit (:mod:`.plots`, one module per theme),
readable tables (:mod:`.tables`) and the HTML forecast report (:mod:`.report`: a jinja2
template filled from :mod:`.report_data`, formulas and symbols typeset by :mod:`.typeset`).
Lays out what the analysis layers compute; computes no inference of its own, and asks the fit's
law and noise model what to call things rather than testing their names."""
