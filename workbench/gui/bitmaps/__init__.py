"""Heatmaps of MSR filter decisions and the VMX MSR bitmap / SVM MSRPM."""

from workbench.gui.bitmaps.inspector import BitmapInspector

__all__ = ["BitmapInspector"]
