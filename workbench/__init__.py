"""KVM Trap Workbench: KVM MSR filtering and vfio-pci MSE virtualization, step by step."""

__version__ = "0.1.0"
