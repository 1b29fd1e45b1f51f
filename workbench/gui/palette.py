"""The colours that carry meaning, from the Okabe-Ito palette, which readers with any
common colour-vision deficiency tell apart. Panels take their meaning colours from here."""

from __future__ import annotations

ORANGE = "#E69F00"
SKY_BLUE = "#56B4E9"
BLUISH_GREEN = "#009E73"
YELLOW = "#F0E442"
BLUE = "#0072B2"
VERMILLION = "#D55E00"
REDDISH_PURPLE = "#CC79A7"

ALLOW = BLUISH_GREEN      # the filter lets the access through
DENY = VERMILLION         # the filter denies it
EXEMPT = BLUE             # never filtered (x2APIC)
PASSTHROUGH = SKY_BLUE    # the intercept bitmap passes the MSR through: no VM exit
INTERCEPT = "#5a5a5a"     # the access exits (neutral: the usual case)
