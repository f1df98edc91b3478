"""What a person reads: matplotlib figures of a fit (:mod:`.plots`), readable tables
(:mod:`.tables`) and the HTML forecast report (:mod:`.report`). Lays out what the analysis
layers compute; computes no inference of its own."""
